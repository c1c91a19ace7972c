using Compression.Core.Numerics;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;

namespace Compression.Core.Factorization;

/// <summary>
/// Puts a layer's factors in its place. A MatMul becomes <c>&lt;layer&gt;/lowrank_a</c> (MatMul to the rank) and
/// <c>&lt;layer&gt;/lowrank_b</c> (MatMul to the outputs); a Gemm's second node is a Gemm that keeps its bias (C, beta;
/// alpha is folded into the factor). A Conv becomes a Conv chain: an optional 1x1 <c>lowrank_a</c> to the input rank,
/// the kernel (<c>lowrank_core</c>, with the layer's strides, pads and dilations), and a 1x1 <c>lowrank_b</c> to the
/// outputs, the bias on the last. The last node writes the layer's output, so readers are unchanged; the weights are
/// named after the original (<c>&lt;weight&gt;/lowrank_a</c>, ...). The inner dimensions are ordinary channels and
/// neurons, so structured pruning can trim them and quantization treats each factor as a layer.
/// </summary>
internal static class FactorGraph
{
    /// <summary>Replaces the target's node and weight in <paramref name="graph"/> by the factors; returns the new nodes in order.</summary>
    public static NodeProto[] Apply(OnnxGraph graph, FactorTarget target, Factors factors) => Apply(graph, target.Node, target, factors);

    /// <summary>The same in a copy of the target's graph, where <paramref name="node"/> is the target's node.</summary>
    public static NodeProto[] Apply(OnnxGraph graph, NodeProto node, FactorTarget target, Factors factors)
    {
        var (nodes, tensors) = Build(target, factors);
        foreach (var tensor in tensors)
        {
            graph.SetInitializer(tensor);
        }

        graph.ReplaceNode(node, nodes);
        graph.RemoveInitializer(target.Weight.Tensor.Name);
        return nodes;
    }

    /// <summary>The nodes and weights that stand for the target's node: the first reads its input, the last writes its output.</summary>
    public static (NodeProto[] Nodes, List<TensorProto> Tensors) Build(FactorTarget target, Factors factors)
    {
        var node = target.Node;
        var stages = new List<(string Role, float[] Weight, int Inputs, int Outputs, bool Kernel)>();
        var coreInputs = target.Inputs;
        if (factors.In is { } inFactor)
        {
            stages.Add(("a", inFactor, target.Channels, factors.Choice.InputRank, false));
            coreInputs = factors.Choice.InputRank * target.Taps;
        }

        var coreOutputs = factors.Out is null ? target.Outputs : factors.Choice.OutputRank;
        stages.Add(("core", factors.Core, coreInputs, coreOutputs, true));
        if (factors.Out is { } outFactor)
        {
            stages.Add(("b", outFactor, factors.Choice.OutputRank, target.Outputs, false));
        }

        // Two stages are a and b; three are a, core and b.
        var roles = stages.Count switch
        {
            1 => ["b"],
            2 => new[] { "a", "b" },
            _ => ["a", "core", "b"],
        };
        var baseName = target.Name;
        var weightName = target.Weight.Tensor.Name;
        var nodes = new NodeProto[stages.Count];
        var tensors = new List<TensorProto>();
        var value = node.Input[0];
        for (var s = 0; s < stages.Count; s++)
        {
            var (_, weight, inputs, outputs, kernel) = stages[s];
            var last = s == stages.Count - 1;
            var name = $"{baseName}/lowrank_{roles[s]}";
            var output = last ? node.Output[0] : $"{name}/output";
            var tensorName = $"{weightName}/lowrank_{roles[s]}";
            NodeProto built;
            if (node.OpType == "Conv")
            {
                // [inputs, outputs] row-major -> [outputs, inputs / taps, k...]: the transpose, then the kernel dims.
                var stored = new float[weight.Length];
                Transposition.Transpose<float>(weight, inputs, outputs, stored);
                var kernelDims = target.Weight.Dims.Skip(2).ToArray();
                var dims = new List<long> { outputs, kernel ? inputs / target.Taps : inputs };
                dims.AddRange(kernel ? kernelDims : kernelDims.Select(_ => 1L));
                tensors.Add(TensorCodec.FromSingle(tensorName, dims.ToArray(), stored, ElementType.Float));
                var inputsOfNode = new List<string> { value, tensorName };
                if (last && node.Input.Count > 2 && node.Input[2].Length > 0)
                {
                    inputsOfNode.Add(node.Input[2]);
                }

                built = GraphEdits.Node("Conv", name, inputsOfNode, [output]);
                if (kernel)
                {
                    built.Attribute.AddRange(node.Attribute.Select(a => a.Clone()));
                }
            }
            else
            {
                var alpha = node.OpType == "Gemm" ? GraphEdits.FloatAttribute(node, "alpha") ?? 1f : 1f;
                if (last && alpha != 1f)
                {
                    weight = Scaled(weight, alpha);
                }

                tensors.Add(TensorCodec.FromSingle(tensorName, [inputs, outputs], weight, ElementType.Float));
                var bias = node.OpType == "Gemm" && node.Input.Count > 2 && node.Input[2].Length > 0 ? node.Input[2] : null;
                if (last && bias is not null)
                {
                    built = GraphEdits.Node("Gemm", name, [value, tensorName, bias], [output]);
                    if (GraphEdits.FloatAttribute(node, "beta") is { } beta)
                    {
                        built.Attribute.Add(new AttributeProto { Name = "beta", F = beta, Type = AttributeProto.Types.AttributeType.Float });
                    }
                }
                else
                {
                    built = GraphEdits.Node("MatMul", name, [value, tensorName], [output]);
                }
            }

            nodes[s] = built;
            value = output;
        }

        return (nodes, tensors);
    }

    private static float[] Scaled(float[] values, float scale)
    {
        var scaled = new float[values.Length];
        System.Numerics.Tensors.TensorPrimitives.Multiply(values, scale, scaled);
        return scaled;
    }
}
