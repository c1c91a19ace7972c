using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;

namespace Compression.Core.Quantization.WeightOnly;

/// <summary>
/// A node whose constant float weight is to be quantized. The weight is quantized as rows cut into blocks: a
/// MatMul's or Gemm's [K, N] weight transposed to [N, K] (blocks run along K; a Gemm with transB stores it so
/// already), an embedding table's [vocab, hidden] as it is (blocks run along hidden), a Conv's [M, C/group, k...]
/// as M rows of its C/group x k... reduction values in the weight's own order (blocks run over input channels and
/// taps together). The rows are decoded only when the node's turn comes, so one weight at a time is held in float.
/// </summary>
internal sealed record WeightTarget(OnnxGraph Graph, NodeProto Node, TensorProto Weight, bool StoredAsRows)
{
    /// <summary>The bits and block size this weight is quantized with (per layer).</summary>
    public BlockLayout Layout { get; init; }

    public bool IsEmbedding => Node.OpType == "Gather";

    public bool IsConv => Node.OpType == "Conv";

    /// <summary>Rows quantized: N for a MatMul or Gemm, the vocabulary for an embedding, the output channels for a Conv.</summary>
    public int RowCount => (int)(StoredAsRows ? Weight.Dims[0] : Weight.Dims[1]);

    /// <summary>Values per row: K for a MatMul or Gemm, the hidden size for an embedding, C/group x kernel taps for a Conv.</summary>
    public int Length => (int)(StoredAsRows ? Weight.Dims.Skip(1).Aggregate(1L, (a, b) => a * b) : Weight.Dims[0]);

    public long FloatBytes => (long)RowCount * Length * sizeof(float);

    /// <summary>The weight decoded to float as [RowCount, Length], row-major.</summary>
    public float[] Rows()
    {
        var values = TensorCodec.ToSingle(Weight);
        if (StoredAsRows)
        {
            return values;
        }

        var (length, rowCount) = (Length, RowCount);
        var rows = new float[values.Length];
        for (var k = 0; k < length; k++)
        {
            var source = values.AsSpan(k * rowCount, rowCount);
            for (var n = 0; n < rowCount; n++)
            {
                rows[n * length + k] = source[n];
            }
        }

        return rows;
    }
}
