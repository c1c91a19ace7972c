using Compression.Core.Onnx.Protobuf;

namespace Compression.Core.Quantization.Dynamic;

/// <summary>An op type dynamic quantization keeps float on purpose: every node of it is reported with the reason.</summary>
internal sealed class KeptFloat(string reason) : IDynamicOpRewrite
{
    public int? WeightInput => null;

    public string? Rewrite(DynamicRewriter rewriter, NodeProto node, TensorProto? weight) => reason;
}
