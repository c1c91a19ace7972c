namespace Compression.Core.Quantization;

/// <summary>Scale and zero point of a linear quantization: real = scale * (q - zero_point).</summary>
public readonly record struct QuantParams(float Scale, int ZeroPoint);

/// <summary>
/// Linear quantization arithmetic shared by every mode: integer ranges, scale and zero point from a float range,
/// and quantizing spans. Rounding is half to even, as ONNX's QuantizeLinear does.
/// </summary>
public static class QuantMath
{
    /// <summary>The smallest scale used: ranges narrower than this (constant or all-zero tensors) would divide by ~0.</summary>
    public const float MinimumScale = 1e-12f;

    /// <summary>The integer range of a type; reduce-range drops one bit (7-bit weights for AVX2 without VNNI).</summary>
    public static (int Min, int Max) Range(QuantizedType type, bool reduceRange = false) => (type, reduceRange) switch
    {
        (QuantizedType.U8, false) => (0, 255),
        (QuantizedType.U8, true) => (0, 127),
        (QuantizedType.S8, false) => (-128, 127),
        (QuantizedType.S8, true) => (-64, 63),
        (QuantizedType.U16, _) => (0, 65535),
        _ => (-32768, 32767),
    };

    /// <summary>The ONNX element type of a quantized type.</summary>
    public static Onnx.Tensors.ElementType ElementType(QuantizedType type) => type switch
    {
        QuantizedType.U8 => Onnx.Tensors.ElementType.UInt8,
        QuantizedType.S8 => Onnx.Tensors.ElementType.Int8,
        QuantizedType.U16 => Onnx.Tensors.ElementType.UInt16,
        _ => Onnx.Tensors.ElementType.Int16,
    };

    /// <summary>
    /// Scale and zero point covering [min, max] (widened to include 0, so zero is exact). Symmetric ranges use
    /// max(|min|, |max|) and put the zero point in the middle of the type (0 for signed types).
    /// </summary>
    public static QuantParams Compute(float min, float max, QuantizedType type, bool symmetric, bool reduceRange = false)
    {
        min = MathF.Min(min, 0);
        max = MathF.Max(max, 0);
        var (qmin, qmax) = Range(type, reduceRange);
        if (symmetric)
        {
            var bound = MathF.Max(MathF.Abs(min), MathF.Abs(max));
            var zeroPoint = type is QuantizedType.U8 or QuantizedType.U16 ? (qmin + qmax + 1) / 2 : 0;
            var scale = bound / ((qmax - qmin) / 2f);
            return new QuantParams(MathF.Max(scale, MinimumScale), zeroPoint);
        }

        var asymmetricScale = MathF.Max((max - min) / (qmax - qmin), MinimumScale);
        var zero = (int)Math.Clamp(Math.Round(qmin - min / asymmetricScale, MidpointRounding.ToEven), qmin, qmax);
        return new QuantParams(asymmetricScale, zero);
    }

    /// <summary>Quantizes one value: round half to even, then clamp to the type's range.</summary>
    public static int Quantize(float value, QuantParams p, int qmin, int qmax) =>
        (int)Math.Clamp(Math.Round(value / p.Scale, MidpointRounding.ToEven) + p.ZeroPoint, qmin, qmax);

    /// <summary>Quantizes a span to integers held in ints (the caller packs them into the tensor's type).</summary>
    public static void Quantize(ReadOnlySpan<float> values, QuantParams p, int qmin, int qmax, Span<int> output)
    {
        for (var i = 0; i < values.Length; i++)
        {
            output[i] = Quantize(values[i], p, qmin, qmax);
        }
    }

    public static float Dequantize(int q, QuantParams p) => p.Scale * (q - p.ZeroPoint);
}
