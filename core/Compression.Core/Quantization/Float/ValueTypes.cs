using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Passes.Graph;

namespace Compression.Core.Quantization.Float;

/// <summary>
/// The element type of every value of one graph, as far as it can be told without shapes: declared types (inputs,
/// value_info, initializers, Constant values) first, then per-op rules in topological order. Most ops give the type
/// of their first typed input; the rules below list the ones that do not. Unknown stays unknown, and the converter
/// leaves such values alone.
/// </summary>
internal static class ValueTypes
{
    private static readonly HashSet<string> Int64Outputs = new(StringComparer.Ordinal)
    {
        "Shape", "Size", "NonZero", "ArgMax", "ArgMin", "NonMaxSuppression",
    };

    private static readonly HashSet<string> BoolOutputs = new(StringComparer.Ordinal)
    {
        "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Not", "And", "Or", "Xor", "IsNaN", "IsInf",
    };

    public static Dictionary<string, ElementType> Infer(OnnxGraph graph)
    {
        var types = new Dictionary<string, ElementType>(StringComparer.Ordinal);
        foreach (var value in graph.Proto.Input.Concat(graph.Proto.ValueInfo).Concat(graph.Proto.Output))
        {
            if (value.Type?.TensorType is { ElemType: > 0 } tensorType)
            {
                types[value.Name] = (ElementType)tensorType.ElemType;
            }
        }

        foreach (var tensor in graph.Proto.Initializer)
        {
            types[tensor.Name] = (ElementType)tensor.DataType;
        }

        foreach (var node in graph.TopologicalOrder())
        {
            for (var i = 0; i < node.Output.Count; i++)
            {
                var output = node.Output[i];
                if (output.Length > 0 && !types.ContainsKey(output) && OutputType(node, i, types) is { } type)
                {
                    types[output] = type;
                }
            }
        }

        return types;
    }

    private static ElementType? OutputType(NodeProto node, int index, Dictionary<string, ElementType> types)
    {
        if (!GraphScopes.IsStandard(node))
        {
            // Ops of other domains (com.microsoft's Gelu, FastGelu, SkipLayerNormalization, ...) mostly give their
            // input's type; left unknown, a float32 output would reach a converted reader without its Cast. Those
            // that change the type (quantizing ones) stay unknown, and their readers are left alone.
            return node.OpType.Contains("Quantize", StringComparison.Ordinal) ? null : FirstTyped(node, types);
        }

        switch (node.OpType)
        {
            case "Constant":
                return ConstantSources.DenseValue(node) is { } value ? (ElementType)value.DataType : null;
            case "Cast":
                return (ElementType)Attribute(node, "to", 0);
            case "CastLike":
                return TypeOf(node, 1, types);
            case "ConstantOfShape":
                return node.Attribute.FirstOrDefault(a => a.Name == "value")?.T is { } fill ? (ElementType)fill.DataType : ElementType.Float;
            case "EyeLike" or "RandomNormalLike" or "RandomUniformLike" or "Bernoulli":
                return Attribute(node, "dtype", 0) is var dtype && dtype > 0 ? (ElementType)dtype : TypeOf(node, 0, types);
            case "RandomNormal" or "RandomUniform":
                return (ElementType)Attribute(node, "dtype", (long)ElementType.Float);
            case "Multinomial":
                return (ElementType)Attribute(node, "dtype", (long)ElementType.Int32);
            case "TopK" or "MaxPool" or "Unique" when index > 0:
                return ElementType.Int64;
            case "Where":
                return TypeOf(node, 1, types);
            case "DequantizeLinear":
                return ElementType.Float;
        }

        if (Int64Outputs.Contains(node.OpType))
        {
            return ElementType.Int64;
        }

        if (BoolOutputs.Contains(node.OpType))
        {
            return ElementType.Bool;
        }

        return FirstTyped(node, types);
    }

    private static ElementType? FirstTyped(NodeProto node, Dictionary<string, ElementType> types)
    {
        for (var i = 0; i < node.Input.Count; i++)
        {
            if (TypeOf(node, i, types) is { } type)
            {
                return type;
            }
        }

        return null;
    }

    private static ElementType? TypeOf(NodeProto node, int input, Dictionary<string, ElementType> types) =>
        input < node.Input.Count && types.TryGetValue(node.Input[input], out var type) ? type : null;

    private static long Attribute(NodeProto node, string name, long fallback)
    {
        foreach (var attribute in node.Attribute)
        {
            if (attribute.Name == name)
            {
                return attribute.I;
            }
        }

        return fallback;
    }
}
