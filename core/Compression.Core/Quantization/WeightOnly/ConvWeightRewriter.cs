using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Passes.Graph;

namespace Compression.Core.Quantization.WeightOnly;

/// <summary>
/// Stores a Conv's weight as blocked integers behind the standard DequantizeLinear of opset 21, whose result a
/// Reshape returns to [M, C/group, k...] for the unchanged float Conv. DequantizeLinear blocks along one axis only,
/// so the codes are kept as [M, C/group x k...] and blocked along axis 1: each block covers contiguous reduction values
/// of one output channel, input channels and taps together, as GPTQ quantizes them. Blocking the 4-D weight along
/// its channel axis instead (a block = one tap of block-size channels) gave ResNet18's Convs 11 % more squared error
/// at the same number of scales, and a 3-channel first layer a scale per 3 values. Symmetric blocks are int4/int8
/// with no zero points (the codes less the middle code), asymmetric ones uint4/uint8 with zero points shaped as the
/// scales, [M, blocks]. Scales are float32: DequantizeLinear's output takes the scales' type, and the Conv reads
/// float32. ONNX Runtime's CPU provider runs all four element types blocked along axis 1, a last block shorter than
/// the others included (BlockedDequantizeLinearTests).
/// </summary>
internal static class ConvWeightRewriter
{
    /// <summary>The opset whose DequantizeLinear takes block_size (and int4/uint4).</summary>
    public const long Opset = 21;

    /// <summary>The bytes <see cref="Rewrite"/> will store for the target's weight: codes, scales, zero points and the shape.</summary>
    public static long StoredBytes(WeightTarget target)
    {
        var layout = target.Layout;
        long blocks = (long)target.Weight.Rows * layout.BlockCount(target.Weight.RowLength);
        var codes = ((long)target.Weight.Rows * target.Weight.RowLength * layout.Bits + 7) / 8;
        var zeroPoints = layout.Symmetric ? 0 : (blocks * layout.Bits + 7) / 8;
        return codes + blocks * sizeof(float) + zeroPoints + target.Weight.Dims.Count * sizeof(long);
    }

    /// <summary>Rewrites the Conv to read its weight through DequantizeLinear and Reshape; returns the bytes of the tensors it added.</summary>
    public static long Rewrite(WeightTarget target, QuantizedRows quantized, HashSet<string> names)
    {
        var (graph, node) = (target.Graph, target.Node);
        var stem = node.Name.Length > 0 ? node.Name : node.Output[0];
        var layout = quantized.Layout;
        var (signed, unsigned) = layout.Bits == 4 ? (ElementType.Int4, ElementType.UInt4) : (ElementType.Int8, ElementType.UInt8);
        long[] dims = [quantized.Rows, quantized.Length];
        long[] scaleDims = [quantized.Rows, quantized.BlocksPerRow];

        var codes = layout.Symmetric
            ? TensorCodec.FromRaw(GraphScopes.UniqueName(names, $"{stem}_weight_Q{layout.Bits}"), dims, signed, quantized.PackTensor(layout.SymmetricZeroPoint))
            : TensorCodec.FromRaw(GraphScopes.UniqueName(names, $"{stem}_weight_Q{layout.Bits}"), dims, unsigned, quantized.PackTensor(0));
        var scales = TensorCodec.FromSingle(GraphScopes.UniqueName(names, $"{stem}_weight_scales"), scaleDims, quantized.Scales, ElementType.Float);
        var shape = TensorCodec.FromInt64(GraphScopes.UniqueName(names, $"{stem}_weight_shape"), [target.Weight.Dims.Count], target.Weight.Dims.ToArray());
        var added = new List<TensorProto> { codes, scales, shape };
        var dequantize = GraphEdits.Node("DequantizeLinear", node.Name.Length > 0 ? $"{node.Name}_weight_dequantize" : "", [codes.Name, scales.Name],
            [GraphScopes.UniqueName(names, $"{stem}_weight_rows")]);
        if (!layout.Symmetric)
        {
            var zeroPoints = TensorCodec.FromRaw(GraphScopes.UniqueName(names, $"{stem}_weight_zero_points"), scaleDims, unsigned, quantized.PackZeroPointTensor());
            dequantize.Input.Add(zeroPoints.Name);
            added.Add(zeroPoints);
        }

        dequantize.Attribute.Add(GraphEdits.Int("axis", 1));
        dequantize.Attribute.Add(GraphEdits.Int("block_size", Math.Min(layout.BlockSize, quantized.Length)));
        var reshape = GraphEdits.Node("Reshape", node.Name.Length > 0 ? $"{node.Name}_weight_reshape" : "", [dequantize.Output[0], shape.Name],
            [GraphScopes.UniqueName(names, $"{stem}_weight")]);
        graph.InsertNodeBefore(node, dequantize);
        graph.InsertNodeBefore(node, reshape);
        node.Input[1] = reshape.Output[0];
        foreach (var tensor in added)
        {
            graph.SetInitializer(tensor);
        }

        return added.Sum(TensorCodec.StoredByteLength);
    }
}
