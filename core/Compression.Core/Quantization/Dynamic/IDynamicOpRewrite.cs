using Compression.Core.Onnx.Protobuf;

namespace Compression.Core.Quantization.Dynamic;

/// <summary>
/// How dynamic quantization takes one op type, an entry of <see cref="DynamicOps"/> (as an op quantizer of ONNX
/// Runtime's IntegerOpsRegistry): which input holds the weight, and how a node is rewritten around it.
/// </summary>
internal interface IDynamicOpRewrite
{
    /// <summary>The input whose value is quantized when it is a constant float matrix; null when the op type keeps float.</summary>
    int? WeightInput { get; }

    /// <summary>
    /// Rewrites <paramref name="node"/> through <paramref name="rewriter"/>; <paramref name="weight"/> is the value of
    /// <see cref="WeightInput"/> when that is a constant float matrix, else null. Returns why the node stays float, or
    /// null when it was rewritten or is not what the entry quantizes (a Gather of anything but an embedding table).
    /// </summary>
    string? Rewrite(DynamicRewriter rewriter, NodeProto node, TensorProto? weight);
}
