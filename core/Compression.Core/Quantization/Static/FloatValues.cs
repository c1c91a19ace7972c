using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;

namespace Compression.Core.Quantization.Static;

/// <summary>
/// Which values of a graph hold float32, found forward from the inputs and initializers: shape arithmetic
/// (Shape -> Gather -> Concat -> Reshape) runs on int64 and must never get a QuantizeLinear. Ops that make a type
/// of their own (Shape, Cast, comparisons) say so; every other op keeps the type of its first input.
/// </summary>
internal static class FloatValues
{
    public static HashSet<string> Find(OnnxGraph graph)
    {
        var isFloat = new Dictionary<string, bool>(StringComparer.Ordinal);
        foreach (var input in graph.Proto.Input)
        {
            isFloat[input.Name] = input.Type?.TensorType?.ElemType is null or (int)ElementType.Float;
        }

        foreach (var tensor in graph.Proto.Initializer)
        {
            isFloat[tensor.Name] = TensorCodec.ElementTypeOf(tensor) == ElementType.Float;
        }

        foreach (var node in graph.TopologicalOrder())
        {
            var first = node.Input.Count > 0 && isFloat.TryGetValue(node.Input[0], out var known) ? known : true;
            var output = node.OpType switch
            {
                "Shape" or "Size" or "NonZero" or "ArgMax" or "ArgMin" or "Equal" or "Less" or "Greater" or "LessOrEqual"
                    or "GreaterOrEqual" or "Not" or "And" or "Or" or "Xor" or "IsNaN" or "IsInf" => false,
                "Cast" => GraphEdits.IntAttribute(node, "to", (int)ElementType.Float) == (int)ElementType.Float,
                "ConstantOfShape" => ConstantOfShapeIsFloat(node),
                "Where" => node.Input.Count > 1 && isFloat.TryGetValue(node.Input[1], out var branch) ? branch : true,
                _ => first,
            };
            foreach (var value in node.Output)
            {
                isFloat[value] = output;
            }
        }

        return isFloat.Where(v => v.Value).Select(v => v.Key).ToHashSet(StringComparer.Ordinal);
    }

    private static bool ConstantOfShapeIsFloat(NodeProto node)
    {
        foreach (var attribute in node.Attribute)
        {
            if (attribute.Name == "value" && attribute.T is { } value)
            {
                return TensorCodec.ElementTypeOf(value) == ElementType.Float;
            }
        }

        return true; // the default value is a float zero
    }
}
