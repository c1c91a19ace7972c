using Compression.Core.Diagnostics;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;

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

    /// <summary>
    /// Refuses a model a float32-weight method (pruning, factorization) cannot work on, with <paramref name="code"/>:
    /// one holding quantized operators, or one whose MatMul, Gemm or Conv reads its weight in float16 or bfloat16 (such
    /// layers would be passed over, or folded back to float32: a Cast of a float16 initializer folds like any computed
    /// weight). Even one such layer refuses the model: the float model is the one to work on, and a pipeline that
    /// quantizes first fails here with the fix instead of returning the model unchanged.
    /// </summary>
    public static void ThrowIfNotFloat(OnnxModel model, string code, string method, string fix)
    {
        var reads = $"{method} works on float32 weights: {fix}";
        if (FirstQuantizedNode(model) is { } quantized)
        {
            throw new CompressionException(Diagnostic.Error(code,
                $"The model is quantized: node '{OnnxGraph.Describe(quantized)} is a quantized operator. {reads}", model.Path));
        }

        var graph = model.MainGraph;
        foreach (var node in graph.Nodes)
        {
            if (node.OpType is "MatMul" or "Gemm" or "Conv" && node.Input.Count > 1
                && WeightType(graph, node.Input[1]) is { } type and (ElementType.Float16 or ElementType.BFloat16))
            {
                var name = type.ToString().ToLowerInvariant();
                throw new CompressionException(Diagnostic.Error(code,
                    $"The model computes in {name}: '{OnnxGraph.Describe(node)} reads its weight '{node.Input[1]}' as {name}. {reads}", model.Path));
            }
        }
    }

    /// <summary>
    /// The element type a layer reads its weight in: a constant's own, or the target of a Cast, looking through
    /// Reshape and Transpose (float16 conversion may keep float32 initializers behind Casts); null when unknown.
    /// </summary>
    private static ElementType? WeightType(OnnxGraph graph, string name)
    {
        for (var hop = 0; hop < 4; hop++)
        {
            if (ConstantSources.Find(graph, name) is { } tensor)
            {
                return TensorCodec.ElementTypeOf(tensor);
            }

            var producer = graph.Producer(name);
            if (producer is { OpType: "Cast" })
            {
                return (ElementType)(producer.Attribute.FirstOrDefault(a => a.Name == "to")?.I ?? 0);
            }

            if (producer is not { OpType: "Reshape" or "Transpose" or "Squeeze" or "Unsqueeze" or "Flatten" })
            {
                return null;
            }

            name = producer.Input[0];
        }

        return null;
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
