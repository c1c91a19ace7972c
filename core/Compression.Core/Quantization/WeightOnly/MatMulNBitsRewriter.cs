using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Passes.Graph;

namespace Compression.Core.Quantization.WeightOnly;

/// <summary>
/// Replaces a MatMul or Gemm by ONNX Runtime's com.microsoft MatMulNBits: B packed [N, blocks, blockSize * bits / 8],
/// scales [N * blocks] (Gemm's alpha folded in), zero points only when asymmetric (packed per row). K that the block
/// does not divide is padded with codes that decode to zero. A Gemm's beta * C becomes an Add after it.
/// </summary>
internal static class MatMulNBitsRewriter
{
    public const string Domain = "com.microsoft";

    /// <summary>Rewrites the node; returns the bytes of the tensors it added.</summary>
    public static long Rewrite(WeightTarget target, QuantizedRows quantized, float alpha, string? gemmBias, HashSet<string> names)
    {
        var (graph, node) = (target.Graph, target.Node);
        var stem = node.Name.Length > 0 ? node.Name : node.Output[0];
        var bits = quantized.Layout.Bits;
        var blobSize = quantized.Layout.BlockSize * bits / 8;

        var packed = TensorCodec.FromRaw(GraphScopes.UniqueName(names, $"{stem}_Q{bits}"),
            [quantized.Rows, quantized.BlocksPerRow, blobSize], ElementType.UInt8, quantized.PackCodes(padToBlocks: true));
        if (alpha != 1)
        {
            for (var i = 0; i < quantized.Scales.Length; i++)
            {
                quantized.Scales[i] *= alpha;
            }
        }

        var scales = TensorCodec.FromSingle(GraphScopes.UniqueName(names, $"{stem}_scales"), [quantized.Scales.Length], quantized.Scales, ElementType.Float);
        var added = new List<TensorProto> { packed, scales };
        var matMul = new NodeProto { OpType = "MatMulNBits", Domain = Domain, Name = node.Name.Length > 0 ? $"{node.Name}_Q{bits}" : "" };
        matMul.Input.Add(node.Input[0]);
        matMul.Input.Add(packed.Name);
        matMul.Input.Add(scales.Name);
        if (!quantized.Layout.Symmetric)
        {
            var zeroPoints = quantized.PackZeroPoints();
            var zeroPointTensor = TensorCodec.FromRaw(GraphScopes.UniqueName(names, $"{stem}_zero_points"), [zeroPoints.Length], ElementType.UInt8, zeroPoints);
            matMul.Input.Add(zeroPointTensor.Name);
            added.Add(zeroPointTensor);
        }

        matMul.Attribute.Add(Integer("K", quantized.Length));
        matMul.Attribute.Add(Integer("N", quantized.Rows));
        matMul.Attribute.Add(Integer("bits", bits));
        matMul.Attribute.Add(Integer("block_size", quantized.Layout.BlockSize));

        var output = node.Output[0];
        if (gemmBias is null)
        {
            matMul.Output.Add(output);
            graph.ReplaceNode(node, matMul);
        }
        else
        {
            var product = GraphScopes.UniqueName(names, $"{output}_matmul");
            matMul.Output.Add(product);
            var add = new NodeProto { OpType = "Add", Name = node.Name.Length > 0 ? $"{node.Name}_bias" : "" };
            add.Input.Add(product);
            add.Input.Add(gemmBias);
            add.Output.Add(output);
            graph.ReplaceNode(node, matMul, add);
        }

        foreach (var tensor in added)
        {
            graph.SetInitializer(tensor);
        }

        return added.Sum(TensorCodec.StoredByteLength);
    }

    public static AttributeProto Integer(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };
}
