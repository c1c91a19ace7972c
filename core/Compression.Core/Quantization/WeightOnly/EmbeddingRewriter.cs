using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Passes.Graph;

namespace Compression.Core.Quantization.WeightOnly;

/// <summary>
/// Replaces a Gather on a [vocab, hidden] float table by com.microsoft GatherBlockQuantized with uint8 data
/// ([vocab, hidden * bits / 8], 4-bit codes two to a byte, low nibble first), scales [vocab, blocks] and, when
/// asymmetric, zero points packed the same way along the blocks. ONNX Runtime's CPU kernel takes uint8 data with
/// bits 4 or 8, gather_axis 0 and quantize_axis last: exactly this layout.
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
        var scales = TensorCodec.FromSingle(GraphScopes.UniqueName(names, $"{stem}_scales"), [quantized.Rows, quantized.BlocksPerRow],
            quantized.Scales, ElementType.Float);
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

        gather.Output.Add(node.Output[0]);
        gather.Attribute.Add(MatMulNBitsRewriter.Integer("gather_axis", 0));
        gather.Attribute.Add(MatMulNBitsRewriter.Integer("quantize_axis", 1));
        gather.Attribute.Add(MatMulNBitsRewriter.Integer("block_size", quantized.Layout.BlockSize));
        gather.Attribute.Add(MatMulNBitsRewriter.Integer("bits", bits));
        graph.ReplaceNode(node, gather);
        foreach (var tensor in added)
        {
            graph.SetInitializer(tensor);
        }

        return added.Sum(TensorCodec.StoredByteLength);
    }
}
