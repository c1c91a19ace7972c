using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Passes.Graph;

namespace Compression.Core.Pruning.Sparsity;

/// <summary>
/// Adds back the mean output shift pruning left (mean(x) . (W - W') per output feature) to the layer's bias: a
/// Conv's B or a Gemm's C (created when absent; C divided by beta), or the constant of the Add that follows a
/// MatMul. A bias that is computed, shared, or shaped otherwise is left alone.
/// </summary>
internal static class BiasCorrection
{
    /// <summary>Whether the shift could be applied.</summary>
    public static bool Apply(PruneTarget target, float[] shift, HashSet<string> names)
    {
        var (graph, node) = (target.Graph, target.Node);
        switch (node.OpType)
        {
            case "Conv":
                return AddToInput(graph, node, 2, shift, 1f, names);
            case "Gemm":
                var beta = node.Attribute.FirstOrDefault(a => a.Name == "beta")?.F ?? 1f;
                return beta != 0 && AddToInput(graph, node, 2, shift, 1 / beta, names);
            default:
                var consumers = graph.Consumers(node.Output[0]);
                if (consumers.Count != 1 || consumers[0] is not { OpType: "Add" } add || add.Input.Count != 2 || graph.IsGraphOutput(node.Output[0]))
                {
                    return false;
                }

                var other = add.Input[0] == node.Output[0] ? 1 : 0;
                return graph.Consumers(add.Input[other]).Count == 1 && Update(graph, add.Input[other], shift, 1f);
        }
    }

    private static bool AddToInput(OnnxGraph graph, NodeProto node, int index, float[] shift, float factor, HashSet<string> names)
    {
        if (node.Input.Count > index && node.Input[index].Length > 0)
        {
            return graph.Consumers(node.Input[index]).Count == 1 && Update(graph, node.Input[index], shift, factor);
        }

        var values = new float[shift.Length];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = shift[i] * factor;
        }

        var name = GraphScopes.UniqueName(names, $"{node.Input[1]}_bias");
        graph.SetInitializer(TensorCodec.FromSingle(name, [shift.Length], values, ElementType.Float));
        while (node.Input.Count < index)
        {
            node.Input.Add("");
        }

        node.Input.Add(name);
        return true;
    }

    /// <summary>Adds the shift to a constant float bias holding one value per output feature (any leading 1 dims).</summary>
    private static bool Update(OnnxGraph graph, string name, float[] shift, float factor)
    {
        if (ConstantSources.Find(graph, name) is not { } bias || TensorCodec.ElementTypeOf(bias) != ElementType.Float
            || TensorCodec.ElementCount(bias) != shift.Length || bias.Dims.Count == 0 || bias.Dims[^1] != shift.Length)
        {
            return false;
        }

        var values = TensorCodec.ToSingle(bias);
        for (var i = 0; i < values.Length; i++)
        {
            values[i] += shift[i] * factor;
        }

        ConstantWriter.Replace(graph, TensorCodec.FromSingle(bias.Name.Length > 0 ? bias.Name : name, bias.Dims.ToArray(), values, ElementType.Float), name);
        return true;
    }
}

/// <summary>Replaces a constant where it lives: the initializer of that name, or the value of the Constant node producing it.</summary>
internal static class ConstantWriter
{
    public static void Replace(OnnxGraph graph, TensorProto tensor, string name)
    {
        if (graph.Initializer(name) is not null)
        {
            tensor.Name = name;
            graph.SetInitializer(tensor);
            return;
        }

        foreach (var attribute in graph.Producer(name)!.Attribute)
        {
            if (attribute.Name == "value")
            {
                attribute.T = tensor;
            }
        }
    }
}
