using Compression.Core.Onnx;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Passes.Graph;

namespace Compression.Core.Quantization.Float;

/// <summary>
/// Storage-only 16-bit weights: each float32 weight of the main graph (initializer or Constant node) is stored in
/// the target type and read through one Cast to float32 under its old name. ONNX Runtime folds those Casts when
/// the session loads, so the model computes exactly as in float32 on 16-bit-rounded weights.
/// </summary>
internal static class StorageOnlyRewriter
{
    /// <summary>Smaller tensors stay float32: they save nothing and hold constants (epsilons, scales) 16 bits would round.</summary>
    private const int MinimumElements = 256;

    /// <summary>Returns how many weights were converted.</summary>
    public static int Rewrite(OnnxModel model, ElementType target)
    {
        var graph = model.MainGraph;
        var names = GraphScopes.AllValueNames(model);
        var suffix = target == ElementType.Float16 ? "_fp16" : "_bf16";
        var casts = new List<NodeProto>();
        var converted = 0;
        foreach (var tensor in graph.Proto.Initializer.ToList())
        {
            if (!IsWeight(tensor) || GraphScopes.IsGraphInput(graph, tensor.Name))
            {
                continue;
            }

            var stored = HalfValues.Convert(tensor, GraphScopes.UniqueName(names, tensor.Name + suffix), target);
            graph.RemoveInitializer(tensor.Name);
            graph.SetInitializer(stored);
            casts.Add(Cast(stored.Name, tensor.Name));
            converted++;
        }

        foreach (var node in graph.Proto.Node.ToList())
        {
            if (!ConstantSources.IsConstantNode(node) || ConstantSources.DenseValue(node) is not { } value || !IsWeight(value))
            {
                continue;
            }

            var output = node.Output[0];
            var stored = HalfValues.Convert(value, GraphScopes.UniqueName(names, output + suffix), target);
            graph.RemoveNode(node);
            graph.SetInitializer(stored);
            casts.Add(Cast(stored.Name, output));
            converted++;
        }

        foreach (var cast in casts)
        {
            graph.AddNode(cast);
        }

        graph.SortTopologically();
        return converted;
    }

    private static bool IsWeight(TensorProto tensor) =>
        tensor.DataType == (int)ElementType.Float && TensorCodec.ElementCount(tensor) >= MinimumElements;

    private static NodeProto Cast(string input, string output)
    {
        var node = new NodeProto { OpType = "Cast", Name = output + "_upcast" };
        node.Input.Add(input);
        node.Output.Add(output);
        node.Attribute.Add(new AttributeProto { Name = "to", Type = AttributeProto.Types.AttributeType.Int, I = (long)ElementType.Float });
        return node;
    }
}
