using Compression.Core.Layers;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;

namespace Compression.Core.Quantization.WeightOnly;

/// <summary>
/// A node whose constant float weight is to be quantized: its <see cref="LayerWeight"/> rows cut into blocks, which run
/// along a MatMul's or Gemm's K, an embedding table's hidden size, and a Conv's input channels and taps together. The
/// rows are decoded only when the node's turn comes, so one weight at a time is held in float.
/// </summary>
internal sealed record WeightTarget(OnnxGraph Graph, LayerWeight Weight)
{
    public NodeProto Node => Weight.Node;

    /// <summary>The bits and block size this weight is quantized with (per layer).</summary>
    public BlockLayout Layout { get; init; }

    public bool IsEmbedding => Node.OpType == "Gather";

    public bool IsConv => Node.OpType == "Conv";

    public long FloatBytes => Weight.Count * sizeof(float);
}
