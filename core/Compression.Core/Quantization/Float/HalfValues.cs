using System.Numerics.Tensors;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;

namespace Compression.Core.Quantization.Float;

/// <summary>Re-encodes float32 tensors in 16 bits.</summary>
internal static class HalfValues
{
    /// <summary>The largest finite float16; larger values would become infinities.</summary>
    private const float Float16Max = 65504f;

    /// <summary>The smallest float16 subnormal: non-zero values below it (epsilons such as 1e-12) would become 0.</summary>
    private const float Float16Tiny = 5.9604645e-8f;

    /// <summary>
    /// The same tensor in <paramref name="target"/> under <paramref name="name"/>. For float16, magnitudes are kept
    /// inside its range: overflow saturates at ±65504 and tiny non-zero values keep their sign at the smallest
    /// subnormal, so an epsilon added to avoid a division by zero still avoids it.
    /// </summary>
    public static TensorProto Convert(TensorProto tensor, string name, ElementType target)
    {
        var values = TensorCodec.ToSingle(tensor);
        if (target == ElementType.Float16)
        {
            KeepInFloat16Range(values);
        }

        return TensorCodec.FromSingle(name, tensor.Dims.ToArray(), values, target);
    }

    private static void KeepInFloat16Range(Span<float> values)
    {
        TensorPrimitives.Max(values, -Float16Max, values);
        TensorPrimitives.Min(values, Float16Max, values);
        for (var i = 0; i < values.Length; i++)
        {
            var magnitude = MathF.Abs(values[i]);
            if (magnitude > 0 && magnitude < Float16Tiny)
            {
                values[i] = MathF.CopySign(Float16Tiny, values[i]);
            }
        }
    }
}
