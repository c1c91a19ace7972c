using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;

namespace Compression.Core.Quantization.WeightOnly;

/// <summary>
/// A node whose constant float weight is to be quantized, with the weight laid out as the rows that are quantized
/// block by block: a MatMul's or Gemm's [K, N] weight transposed to [N, K] (blocks run along K), an embedding
/// table's [vocab, hidden] as it is (blocks run along hidden).
/// </summary>
internal sealed record WeightTarget(OnnxGraph Graph, NodeProto Node, string WeightName, float[] Rows, int RowCount, int Length)
{
    public bool IsEmbedding => Node.OpType == "Gather";
}
