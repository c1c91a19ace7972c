using Compression.Core.Onnx;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;

namespace Compression.Core.Quantization.Static;

/// <summary>
/// Turns a QDQ model into integer operators, offline, the way ONNX Runtime's QDQ fusion does at load time:
/// DQ -> Conv -> Q becomes QLinearConv, MatMul QLinearMatMul, Gemm QGemm, Add/Mul QLinearAdd/QLinearMul,
/// (Global)AveragePool and Concat their com.microsoft QLinear forms; MaxPool, Reshape and the other ops that keep
/// the input's scale run on the integers directly. What cannot be converted keeps its Q/DQ pair and stays float.
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
        foreach (var node in graph.TopologicalOrder())
        {
            if (OnnxModel.NormalizeDomain(node.Domain).Length == 0 && Replacement(graph, node) is var (replacement, quantize))
            {
                graph.RemoveNode(quantize);
                graph.ReplaceNode(node, replacement);
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
        string[]? Dq(int index) => index < node.Input.Count && graph.Producer(node.Input[index]) is { OpType: "DequantizeLinear" } dq
            ? [dq.Input[0], dq.Input[1], dq.Input.Count > 2 ? dq.Input[2] : ""]
            : null;
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

        foreach (var attribute in node.Attribute)
        {
            if (!DroppedAttributes.TryGetValue(node.OpType, out var dropped) || !dropped.Contains(attribute.Name))
            {
                replacement.Attribute.Add(attribute.Clone());
            }
        }

        return (replacement, quantize);
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
