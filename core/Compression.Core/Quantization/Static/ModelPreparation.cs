using Compression.Core.Diagnostics;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Passes;
using Compression.Core.Passes.Graph;

namespace Compression.Core.Quantization.Static;

/// <summary>
/// Brings a float model into the form static quantization works on, without changing what it computes: weights in
/// initializers (PaddleOCR keeps them in Constant nodes), constant subgraphs folded (mnist-8 reshapes its MatMul
/// weight at run time), BatchNormalization folded into Conv, constant scales and shifts next to a Conv folded into it
/// (<see cref="ConvAffineFolding"/>), and bias Adds fused into Conv and Gemm so biases can be int32 at the
/// accumulator's scale.
/// </summary>
internal static class ModelPreparation
{
    /// <summary>A rewritten copy of the model and how many nodes were fused into a Conv or Gemm; the caller's model is left as it was.</summary>
    public static (OnnxModel Model, int Fused) Prepare(OnnxModel model, PassContext context)
    {
        var copy = new OnnxModel(model.Proto.Clone(), model.Path);
        copy.MainGraph.DropInitializerInputs();
        var quiet = new PassContext(new CollectingLog(), context.Cancellation);
        copy = new ConstantsToInitializersPass().Run(copy, new NoOptions(), quiet).Model;
        copy = new FoldConstantsPass().Run(copy, new FoldConstantsOptions(), quiet).Model;
        copy = new ConstantsToInitializersPass().Run(copy, new NoOptions(), quiet).Model;
        copy = new FoldBatchNormPass().Run(copy, new NoOptions(), quiet).Model;
        var fused = ConvAffineFolding.Fold(copy.MainGraph) + FuseBiasAdds(copy.MainGraph);
        NameNodes(copy.MainGraph);
        return (copy, fused);
    }

    /// <summary>Names unnamed nodes, so exclusion, sensitivity and fallback can refer to every node.</summary>
    private static void NameNodes(OnnxGraph graph)
    {
        var used = graph.Nodes.Select(n => n.Name).Where(n => n.Length > 0).ToHashSet(StringComparer.Ordinal);
        foreach (var node in graph.Nodes)
        {
            if (node.Name.Length == 0)
            {
                node.Name = GraphScopes.UniqueName(used, $"{node.OpType}_{node.Output[0]}");
            }
        }
    }

    /// <summary>Conv + Add(constant per channel) becomes Conv with a bias; MatMul(2-D, weight) + Add(constant row) becomes Gemm.</summary>
    private static int FuseBiasAdds(OnnxGraph graph)
    {
        var fused = 0;
        foreach (var add in graph.TopologicalOrder())
        {
            if (add.OpType != "Add" || add.Input.Count != 2 || !GraphScopes.IsStandard(add))
            {
                continue;
            }

            for (var side = 0; side < 2; side++)
            {
                var producer = graph.Producer(add.Input[side]);
                var bias = graph.Initializer(add.Input[1 - side]);
                if (producer is null || bias is null || GraphScopes.IsGraphInput(graph, bias.Name) || TensorCodec.ElementTypeOf(bias) != ElementType.Float
                    || graph.Consumers(add.Input[side]).Count != 1 || graph.IsGraphOutput(add.Input[side]))
                {
                    continue;
                }

                if (producer.OpType == "Conv" && producer.Input.Count == 2 && FuseIntoConv(graph, producer, add, bias)
                    || producer.OpType == "MatMul" && FuseIntoGemm(graph, producer, add, bias))
                {
                    fused++;
                    break;
                }
            }
        }

        if (fused > 0)
        {
            graph.RemoveDeadNodes();
        }

        return fused;
    }

    private static bool FuseIntoConv(OnnxGraph graph, NodeProto conv, NodeProto add, TensorProto bias)
    {
        if (graph.Initializer(conv.Input[1]) is not { } weight || weight.Dims.Count < 3)
        {
            return false;
        }

        // The constant must broadcast along the channel axis only: [C,1,...] or [1,C,1,...] with as many trailing 1s as spatial dims.
        var channels = weight.Dims[0];
        var dims = bias.Dims.ToList();
        if (dims.Count == weight.Dims.Count)
        {
            if (dims[0] != 1)
            {
                return false;
            }

            dims.RemoveAt(0);
        }

        if (dims.Count != weight.Dims.Count - 1 || dims[0] != channels || dims.Skip(1).Any(d => d != 1))
        {
            return false;
        }

        var name = GraphScopes.UniqueName(OnnxGraph.DefinedNames(graph.Proto), bias.Name + "_conv_bias");
        graph.SetInitializer(TensorCodec.FromSingle(name, [channels], TensorCodec.ToSingle(bias), ElementType.Float));
        conv.Input.Add(name);
        Bypass(graph, conv, add);
        return true;
    }

    private static bool FuseIntoGemm(OnnxGraph graph, NodeProto matmul, NodeProto add, TensorProto bias)
    {
        if (graph.Initializer(matmul.Input[1]) is not { } weight || weight.Dims.Count != 2 || !IsRank2(graph, matmul.Input[0]))
        {
            return false;
        }

        var columns = weight.Dims[1];
        if (!(bias.Dims.Count == 1 && bias.Dims[0] == columns || bias.Dims.Count == 2 && bias.Dims[0] == 1 && bias.Dims[1] == columns))
        {
            return false;
        }

        var name = GraphScopes.UniqueName(OnnxGraph.DefinedNames(graph.Proto), bias.Name + "_gemm_bias");
        graph.SetInitializer(TensorCodec.FromSingle(name, [columns], TensorCodec.ToSingle(bias), ElementType.Float));
        var gemm = new NodeProto { Name = matmul.Name, OpType = "Gemm" };
        gemm.Input.Add(matmul.Input[0]);
        gemm.Input.Add(matmul.Input[1]);
        gemm.Input.Add(name);
        gemm.Output.Add(matmul.Output[0]);
        graph.ReplaceNode(matmul, gemm);
        Bypass(graph, gemm, add);
        return true;
    }

    /// <summary>Whether a value is known to be 2-D: from value_info, or the output of Flatten or of a Reshape to a constant 2-element shape.</summary>
    private static bool IsRank2(OnnxGraph graph, string value)
    {
        foreach (var info in graph.Proto.ValueInfo.Concat(graph.Proto.Input))
        {
            if (info.Name == value && info.Type?.TensorType?.Shape is { } shape)
            {
                return shape.Dim.Count == 2;
            }
        }

        return graph.Producer(value) switch
        {
            { OpType: "Flatten" } => true,
            { OpType: "Reshape" } reshape => graph.Initializer(reshape.Input[1]) is { } shape && TensorCodec.ElementCount(shape) == 2,
            _ => false,
        };
    }

    /// <summary>Removes the Add: its readers read the fused node's output (or the fused node writes the Add's graph output).</summary>
    private static void Bypass(OnnxGraph graph, NodeProto fused, NodeProto add)
    {
        var addOutput = add.Output[0];
        graph.RemoveNode(add);
        if (graph.IsGraphOutput(addOutput))
        {
            fused.Output[0] = addOutput;
        }
        else
        {
            graph.ReplaceAllUses(addOutput, fused.Output[0]);
        }
    }
}
