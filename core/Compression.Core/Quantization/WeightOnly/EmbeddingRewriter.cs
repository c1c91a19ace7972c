using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Passes.Graph;

namespace Compression.Core.Quantization.WeightOnly;

/// <summary>
/// Replaces a Gather on a [vocab, hidden] float table by com.microsoft GatherBlockQuantized with uint8 data
/// ([vocab, hidden * bits / 8], 4-bit codes two to a byte, low nibble first), scales [vocab, blocks] and, when
/// asymmetric, zero points packed the same way along the blocks. ONNX Runtime's CPU kernel takes uint8 data with
/// bits 4 or 8, gather_axis 0 and quantize_axis last: exactly this layout. The scales are stored in float16 (a
/// vocabulary-sized table of them is a tenth of a 4-bit file; float16's 11 bits of precision are far finer than
/// 4- or 8-bit steps), so the gathered rows come out in float16 and a Cast returns them to float32. Tables whose
/// scales float16 cannot hold (beyond its normal range) keep float32 scales and need no Cast.
/// </summary>
internal static class EmbeddingRewriter
{
    /// <summary>Rewrites the node; returns the bytes of the tensors it added.</summary>
    public static long Rewrite(WeightTarget target, QuantizedRows quantized, HashSet<string> names)
    {
        var (graph, node) = (target.Graph, target.Node);
        var stem = node.Name.Length > 0 ? node.Name : node.Output[0];
        var bits = quantized.Layout.Bits;
        var data = TensorCodec.FromRaw(GraphScopes.UniqueName(names, $"{stem}_Q{bits}"),
            [quantized.Rows, quantized.Length * bits / 8], ElementType.UInt8, quantized.PackCodes(padToBlocks: false));
        var halfScales = FitsFloat16(quantized.Scales);
        var scales = TensorCodec.FromSingle(GraphScopes.UniqueName(names, $"{stem}_scales"), [quantized.Rows, quantized.BlocksPerRow],
            quantized.Scales, halfScales ? ElementType.Float16 : ElementType.Float);
        var added = new List<TensorProto> { data, scales };

        var gather = new NodeProto { OpType = "GatherBlockQuantized", Domain = MatMulNBitsRewriter.Domain, Name = node.Name.Length > 0 ? $"{node.Name}_Q{bits}" : "" };
        gather.Input.Add(data.Name);
        gather.Input.Add(node.Input[1]);
        gather.Input.Add(scales.Name);
        if (!quantized.Layout.Symmetric)
        {
            var zeroPoints = quantized.PackZeroPoints();
            var zeroPointTensor = TensorCodec.FromRaw(GraphScopes.UniqueName(names, $"{stem}_zero_points"),
                [quantized.Rows, zeroPoints.Length / quantized.Rows], ElementType.UInt8, zeroPoints);
            gather.Input.Add(zeroPointTensor.Name);
            added.Add(zeroPointTensor);
        }

        if (!halfScales)
        {
            gather.Output.Add(node.Output[0]);
            graph.ReplaceNode(node, gather);
            return AddInitializers(graph, added);
        }

        var halfOutput = GraphScopes.UniqueName(names, $"{node.Output[0]}_float16");
        gather.Output.Add(halfOutput);
        gather.Attribute.Add(MatMulNBitsRewriter.Integer("gather_axis", 0));
        gather.Attribute.Add(MatMulNBitsRewriter.Integer("quantize_axis", 1));
        gather.Attribute.Add(MatMulNBitsRewriter.Integer("block_size", quantized.Layout.BlockSize));
        gather.Attribute.Add(MatMulNBitsRewriter.Integer("bits", bits));
        var cast = new NodeProto { OpType = "Cast", Name = node.Name.Length > 0 ? $"{node.Name}_cast" : "" };
        cast.Input.Add(halfOutput);
        cast.Output.Add(node.Output[0]);
        cast.Attribute.Add(MatMulNBitsRewriter.Integer("to", (long)ElementType.Float));
        graph.ReplaceNode(node, gather, cast);
        return AddInitializers(graph, added);
    }

    private static long AddInitializers(OnnxGraph graph, List<TensorProto> tensors)
    {
        foreach (var tensor in tensors)
        {
            graph.SetInitializer(tensor);
        }

        return tensors.Sum(TensorCodec.StoredByteLength);
    }

    /// <summary>Whether every scale is 0 or within float16's normal range, where it keeps 11 significant bits.</summary>
    private static bool FitsFloat16(ReadOnlySpan<float> scales)
    {
        const float smallestNormal = 6.104e-5f;
        const float largest = 65504f;
        foreach (var scale in scales)
        {
            var magnitude = MathF.Abs(scale);
            if (magnitude != 0 && magnitude is < smallestNormal or > largest)
            {
                return false;
            }
        }

        return true;
    }
}
