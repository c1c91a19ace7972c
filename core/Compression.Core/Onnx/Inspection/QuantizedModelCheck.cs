using Compression.Core.Diagnostics;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;

namespace Compression.Core.Onnx.Inspection;

/// <summary>Refuses a model that is already quantized: quantizing it again would compound the error or fail.</summary>
internal static class QuantizedModelCheck
{
    private static readonly HashSet<string> QuantizedOpTypes = new(StringComparer.Ordinal)
    {
        "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "MatMulInteger", "ConvInteger",
        "QLinearConv", "QLinearMatMul", "QLinearAdd", "QLinearMul", "QLinearSigmoid", "QLinearLeakyRelu",
        "QLinearAveragePool", "QLinearGlobalAveragePool", "QLinearConcat", "QLinearSoftmax", "QGemm", "QAttention",
        "DynamicQuantizeMatMul", "MatMulIntegerToFloat", "DynamicQuantizeLSTM", "MatMulNBits", "MatMulBnb4",
        "GatherBlockQuantized", "QEmbedLayerNormalization", "QOrderedMatMul",
    };

    /// <summary>Throws CMP3201 naming the first quantized node found, before anything is changed or written.</summary>
    public static void ThrowIfQuantized(OnnxModel model)
    {
        if (FirstQuantizedNode(model) is { } node)
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.AlreadyQuantized,
                $"The model is already quantized: node '{OnnxGraph.Describe(node)} is a quantized operator. Quantize the float model instead.",
                model.Path));
        }
    }

    /// <summary>The first quantized operator of the model, subgraphs included, or null.</summary>
    public static NodeProto? FirstQuantizedNode(OnnxModel model)
    {
        foreach (var (_, node) in model.MainGraph.AllNodes())
        {
            if (QuantizedOpTypes.Contains(node.OpType) || node.OpType.StartsWith("QLinear", StringComparison.Ordinal))
            {
                return node;
            }
        }

        return null;
    }
}
