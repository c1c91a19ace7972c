using Compression.Core.Onnx;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;

namespace Compression.Core.Quantization.Static;

/// <summary>
/// Turns a QDQ model into integer operators, offline, the way ONNX Runtime's QDQ fusion does at load time:
/// DQ -> Conv -> Q becomes QLinearConv, MatMul QLinearMatMul, Gemm QGemm, Add/Mul QLinearAdd/QLinearMul, Sigmoid/LeakyRelu QLinearSigmoid/QLinearLeakyRelu,
/// (Global)AveragePool and Concat their com.microsoft QLinear forms; MaxPool, Reshape and the other ops that keep
/// the input's scale run on the integers directly. A MatMul or Gemm with a float output becomes MatMulIntegerToFloat
/// (with its bias Add) or QGemm without an output scale. What cannot be converted keeps its Q/DQ pair and stays float.
/// QuantizeLinear at the model's float inputs and DequantizeLinear at its outputs stay where they are.
/// </summary>
internal static class QOperatorConverter
{
    private const string MicrosoftDomain = "com.microsoft";

    /// <summary>
    /// Attributes of the float op its integer replacement does not take. QGemm has alpha, transA and transB but no
    /// beta: its C is int32 at scale alpha / beta * a_scale * b_scale, and the QDQ builder quantizes a Gemm's C only
    /// when alpha and beta are 1 (PyTorch writes both explicitly), so beta is always 1 or there is no C to scale.
    /// </summary>
    private static readonly Dictionary<string, string[]> DroppedAttributes = new(StringComparer.Ordinal)
    {
        ["Gemm"] = ["beta"],
    };

    public static OnnxModel Convert(OnnxModel qdq)
    {
        var model = new OnnxModel(qdq.Proto.Clone(), qdq.Path);
        var graph = model.MainGraph;
        var absorbed = new HashSet<NodeProto>(ReferenceEqualityComparer.Instance);
        foreach (var node in graph.TopologicalOrder())
        {
            if (OnnxModel.NormalizeDomain(node.Domain).Length != 0 || absorbed.Contains(node))
            {
                continue;
            }

            if (Replacement(graph, node) is var (replacement, quantize))
            {
                graph.RemoveNode(quantize);
                graph.ReplaceNode(node, replacement);
            }
            else if (FloatOutputReplacement(graph, node) is var (floatReplacement, bias))
            {
                if (bias is not null)
                {
                    graph.RemoveNode(bias);
                    absorbed.Add(bias);
                }

                graph.ReplaceNode(node, floatReplacement);
            }
        }

        CancelRoundTrips(graph);
        graph.RemoveDeadNodes();
        graph.SortTopologically();
        return model;
    }

    /// <summary>The integer node replacing <paramref name="node"/> and the QuantizeLinear it absorbs; null when the pattern does not hold.</summary>
    private static (NodeProto Replacement, NodeProto Quantize)? Replacement(OnnxGraph graph, NodeProto node)
    {
        var readers = graph.Consumers(node.Output[0]);
        if (readers.Count != 1 || readers[0].OpType != "QuantizeLinear" || graph.IsGraphOutput(node.Output[0]) || node.Output.Count > 1 && node.Output[1].Length > 0)
        {
            return null;
        }

        var quantize = readers[0];
        var output = quantize.Output[0];
        string[]? Dq(int index) => Dequantized(graph, node, index);
        string[] y = [quantize.Input[1], quantize.Input.Count > 2 ? quantize.Input[2] : ""];

        NodeProto? replacement = null;
        switch (node.OpType)
        {
            case "Conv" when Dq(0) is { } x && Dq(1) is { } w:
                var bias = node.Input.Count > 2 ? Dq(2) : null;
                if (node.Input.Count > 2 && bias is null)
                {
                    return null;
                }

                replacement = GraphEdits.Node("QLinearConv", node.Name, [.. x, .. w, .. y, .. bias is null ? [] : new[] { bias[0] }], [output]);
                break;
            case "MatMul" when Dq(0) is { } a && Dq(1) is { } b:
                replacement = GraphEdits.Node("QLinearMatMul", node.Name, [.. a, .. b, .. y], [output]);
                break;
            case "Gemm" when Dq(0) is { } a && Dq(1) is { } b && (node.Input.Count < 3 || Dq(2) is not null):
                var c = node.Input.Count > 2 ? Dq(2)![0] : "";
                replacement = GraphEdits.Node("QGemm", node.Name, [.. a, .. b, c, .. y], [output], MicrosoftDomain);
                break;
            case "Add" or "Mul" when Dq(0) is { } a && Dq(1) is { } b:
                replacement = GraphEdits.Node("QLinear" + node.OpType, node.Name, [.. a, .. b, .. y], [output], MicrosoftDomain);
                break;
            case "Sigmoid" or "LeakyRelu" when Dq(0) is { } x:
                replacement = GraphEdits.Node("QLinear" + node.OpType, node.Name, [.. x, .. y], [output], MicrosoftDomain);
                break;
            case "GlobalAveragePool" or "AveragePool" when Dq(0) is { } x:
                replacement = GraphEdits.Node("QLinear" + node.OpType, node.Name, [.. x, .. y], [output], MicrosoftDomain);
                replacement.Attribute.Add(GraphEdits.Int("channels_last", 0));
                break;
            case "Concat" when Enumerable.Range(0, node.Input.Count).All(i => Dq(i) is not null):
                replacement = GraphEdits.Node("QLinearConcat", node.Name,
                    [.. y, .. Enumerable.Range(0, node.Input.Count).SelectMany(i => Dq(i)!)], [output], MicrosoftDomain);
                break;
            case "MaxPool" or "Reshape" or "Transpose" or "Flatten" or "Squeeze" or "Unsqueeze"
                when Dq(0) is { } x && x[1] == y[0] && x[2] == y[1]:
                replacement = GraphEdits.Node(node.OpType, node.Name, [x[0], .. node.Input.Skip(1)], [output]);
                break;
        }

        if (replacement is null)
        {
            return null;
        }

        CopyAttributes(node, replacement);
        return (replacement, quantize);
    }

    /// <summary>
    /// The integer tensor, scale and zero point (empty when absent) behind input <paramref name="index"/> when a
    /// DequantizeLinear produces it. <see cref="Convert"/> only sees models whose Q/DQ are ai.onnx and 8-bit.
    /// </summary>
    private static string[]? Dequantized(OnnxGraph graph, NodeProto node, int index) =>
        index < node.Input.Count && graph.Producer(node.Input[index]) is { OpType: "DequantizeLinear" } dq
            ? [dq.Input[0], dq.Input[1], dq.Input.Count > 2 ? dq.Input[2] : ""]
            : null;

    /// <summary>The float op's attributes its integer replacement takes (all but <see cref="DroppedAttributes"/>).</summary>
    private static void CopyAttributes(NodeProto node, NodeProto replacement)
    {
        foreach (var attribute in node.Attribute)
        {
            if (!DroppedAttributes.TryGetValue(node.OpType, out var dropped) || !dropped.Contains(attribute.Name))
            {
                replacement.Attribute.Add(attribute.Clone());
            }
        }
    }

    /// <summary>
    /// A MatMul or Gemm on dequantized 8-bit operands whose output stays float (the QDQ builder leaves no
    /// QuantizeLinear after it when no quantized node reads it): MatMulIntegerToFloat, taking a following Add of a
    /// constant bias over the last axis in too, or QGemm without an output scale. Returns the Add it absorbs.
    /// </summary>
    private static (NodeProto Replacement, NodeProto? Bias)? FloatOutputReplacement(OnnxGraph graph, NodeProto node)
    {
        if (node.OpType is not ("MatMul" or "Gemm") || graph.Consumers(node.Output[0]).Any(r => r.OpType == "QuantizeLinear"))
        {
            return null;
        }

        string[]? Dq(int index) => Dequantized(graph, node, index);
        if (Dq(0) is not { } a || Dq(1) is not { } b || graph.Initializer(b[0]) is not { } weight)
        {
            return null;
        }

        if (node.OpType == "Gemm")
        {
            // Only a Gemm without C: its int32 C was never taken here (the check for 8-bit operands refused it), and
            // what QGemm does with it and a float output has not been measured.
            if (node.Input.Count > 2 && node.Input[2].Length > 0)
            {
                return null;
            }

            var gemm = GraphEdits.Node("QGemm", node.Name, [.. a, .. b, ""], [node.Output[0]], MicrosoftDomain);
            CopyAttributes(node, gemm);
            return (gemm, null);
        }

        var output = node.Output[0];
        var bias = "";
        NodeProto? add = null;
        if (graph.Consumers(output) is [{ OpType: "Add" } reader] && !graph.IsGraphOutput(output)
            && reader.Input.FirstOrDefault(i => i != output) is { } other && reader.Input.Count(i => i == output) == 1
            && graph.Initializer(other) is { } constant && TensorCodec.ElementTypeOf(constant) == ElementType.Float
            && constant.Dims.Count == 1 && weight.Dims.Count == 2 && constant.Dims[0] == weight.Dims[1])
        {
            (bias, output, add) = (other, reader.Output[0], reader);
        }

        var fused = GraphEdits.Node("MatMulIntegerToFloat", node.Name, [a[0], b[0], a[1], b[1], a[2], b[2], bias], [output], MicrosoftDomain);
        while (fused.Input[^1].Length == 0)
        {
            fused.Input.RemoveAt(fused.Input.Count - 1);
        }

        return (fused, add);
    }

    /// <summary>QuantizeLinear(DequantizeLinear(q)) with the same scale and zero point is q itself.</summary>
    private static void CancelRoundTrips(OnnxGraph graph)
    {
        foreach (var quantize in graph.Nodes.Where(n => n.OpType == "QuantizeLinear").ToList())
        {
            if (graph.Producer(quantize.Input[0]) is { OpType: "DequantizeLinear" } dequantize && dequantize.Input.Count == quantize.Input.Count
                && dequantize.Input.Skip(1).SequenceEqual(quantize.Input.Skip(1)) && !graph.IsGraphOutput(quantize.Output[0]))
            {
                graph.ReplaceAllUses(quantize.Output[0], dequantize.Input[0]);
            }
        }
    }
}
