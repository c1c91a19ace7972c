using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;

namespace Compression.Core.Quantization.Dynamic;

/// <summary>
/// Gather on axis 0 of a constant float [V, D] table: 8-bit rows, dequantized after the gather with one scale per
/// column (per embedding dimension), which broadcasts over the gathered rows with no second Gather and costs D
/// floats instead of V. A Gather of anything else (shapes, token positions) is no embedding and goes unreported.
/// </summary>
internal sealed class EmbeddingRewrite : IDynamicOpRewrite
{
    public int? WeightInput => 0;

    public string? Rewrite(DynamicRewriter rewriter, NodeProto node, TensorProto? weight)
    {
        if (!rewriter.Options.QuantizeEmbeddings)
        {
            return "quantize_embeddings is off";
        }

        if (weight is null)
        {
            return null;
        }

        if (GraphEdits.IntAttribute(node, "axis", 0) is not (0 or -2))
        {
            return "it gathers columns, not rows";
        }

        if ((rewriter.Model.OpsetVersion("") ?? 1) < 7)
        {
            return "opset 6 and older lack broadcasting Mul";
        }

        var (rows, columns) = ((int)weight.Dims[0], (int)weight.Dims[1]);
        var quantized = rewriter.EmbeddingTable(weight, rows, columns);
        var indices = node.Input[1];
        var stem = node.Output[0];
        var codes = rewriter.UniqueName(stem + "_codes");
        var widened = rewriter.UniqueName(stem + "_widened");
        var nodes = new List<NodeProto>
        {
            DynamicRewriter.Node("Gather", [quantized.Codes, indices], [codes], node.Name + "_codes", ("axis", 0L)),
            DynamicRewriter.Node("Cast", [codes], [widened], node.Name + "_cast", ("to", (long)ElementType.Float)),
        };
        var scale = quantized.Scale;
        var zeroPoint = quantized.ZeroPoint;
        if (zeroPoint is not null)
        {
            var centered = rewriter.UniqueName(stem + "_centered");
            nodes.Add(DynamicRewriter.Node("Sub", [widened, zeroPoint], [centered], node.Name + "_center"));
            widened = centered;
        }

        nodes.Add(DynamicRewriter.Node("Mul", [widened, scale], [node.Output[0]], node.Name + "_dequantize"));
        rewriter.Replace(node, [.. nodes]);
        return null;
    }
}
