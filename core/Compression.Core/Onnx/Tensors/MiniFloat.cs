namespace Compression.Core.Onnx.Tensors;

/// <summary>
/// The 8-bit and 4-bit float formats of ONNX (float8 e4m3fn, e4m3fnuz, e5m2, e5m2fnuz, e8m0; float4 e2m1).
/// Decoding is a 256-entry table; encoding rounds to nearest (ties to even) and saturates, as ONNX's Cast
/// does with <c>saturate=1</c>, by searching the sorted finite values of the format.
/// </summary>
internal sealed class MiniFloat
{
    private readonly float[] decode;
    private readonly float[] positiveValues;
    private readonly byte[] positiveCodes;
    private readonly byte nanCode;
    private readonly byte signBit;
    private readonly bool hasNegativeZero;

    private MiniFloat(int bits, Func<int, float> decoder, byte nanCode, bool signed, bool hasNegativeZero)
    {
        var count = 1 << bits;
        decode = new float[count];
        for (var code = 0; code < count; code++)
        {
            decode[code] = decoder(code);
        }

        this.nanCode = nanCode;
        this.hasNegativeZero = hasNegativeZero;
        signBit = signed ? (byte)(1 << (bits - 1)) : (byte)0;
        var positives = new List<(float Value, byte Code)>();
        for (var code = 0; code < count; code++)
        {
            if ((code & signBit) == 0 && float.IsFinite(decode[code]))
            {
                positives.Add((decode[code], (byte)code));
            }
        }

        positives.Sort((a, b) => a.Value.CompareTo(b.Value));
        positiveValues = positives.ConvertAll(p => p.Value).ToArray();
        positiveCodes = positives.ConvertAll(p => p.Code).ToArray();
    }

    public static readonly MiniFloat E4M3FN = new(8, c => Ieee(c, 4, 3, 7, nan: c => (c & 0x7F) == 0x7F, inf: _ => false), 0x7F, true, true);
    public static readonly MiniFloat E4M3FNUZ = new(8, c => c == 0x80 ? float.NaN : Ieee(c, 4, 3, 8, nan: _ => false, inf: _ => false), 0x80, true, false);
    public static readonly MiniFloat E5M2 = new(8, c => Ieee(c, 5, 2, 15, nan: c => (c & 0x7C) == 0x7C && (c & 0x3) != 0, inf: c => (c & 0x7F) == 0x7C), 0x7F, true, true);
    public static readonly MiniFloat E5M2FNUZ = new(8, c => c == 0x80 ? float.NaN : Ieee(c, 5, 2, 16, nan: _ => false, inf: _ => false), 0x80, true, false);
    public static readonly MiniFloat E8M0 = new(8, c => c == 0xFF ? float.NaN : MathF.ScaleB(1f, c - 127), 0xFF, false, false);
    public static readonly MiniFloat E2M1 = new(4, c => Ieee(c, 2, 1, 1, nan: _ => false, inf: _ => false), 0x0, true, true);

    public static MiniFloat For(ElementType type) => type switch
    {
        ElementType.Float8E4M3FN => E4M3FN,
        ElementType.Float8E4M3FNUZ => E4M3FNUZ,
        ElementType.Float8E5M2 => E5M2,
        ElementType.Float8E5M2FNUZ => E5M2FNUZ,
        ElementType.Float8E8M0 => E8M0,
        ElementType.Float4E2M1 => E2M1,
        _ => throw new ArgumentException($"{type} is not a mini-float type.", nameof(type)),
    };

    public float Decode(int code) => decode[code];

    public byte Encode(float value)
    {
        if (float.IsNaN(value))
        {
            // float4e2m1 has no NaN: ONNX maps NaN to the largest magnitude with the sign kept.
            return decode[nanCode] is float n && float.IsNaN(n) ? nanCode : positiveCodes[^1];
        }

        if (float.IsInfinity(value) && !hasNegativeZero && signBit != 0)
        {
            // The FNUZ formats have no infinity: ONNX's Cast maps it to NaN even when saturating.
            return nanCode;
        }

        var negative = value < 0 || (value == 0 && float.IsNegative(value));
        var magnitude = MathF.Abs(value);
        byte code;
        if (magnitude >= positiveValues[^1])
        {
            code = positiveCodes[^1];
        }
        else
        {
            var index = Array.BinarySearch(positiveValues, magnitude);
            if (index >= 0)
            {
                code = positiveCodes[index];
            }
            else
            {
                var upper = ~index;
                var lower = upper - 1;
                var below = magnitude - positiveValues[lower];
                var above = positiveValues[upper] - magnitude;
                code = below < above ? positiveCodes[lower]
                    : above < below ? positiveCodes[upper]
                    : (positiveCodes[lower] & 1) == 0 ? positiveCodes[lower] : positiveCodes[upper];
            }
        }

        if (negative && signBit != 0 && (code != 0 || hasNegativeZero))
        {
            code |= signBit;
        }

        return code;
    }

    private static float Ieee(int code, int exponentBits, int mantissaBits, int bias, Func<int, bool> nan, Func<int, bool> inf)
    {
        if (nan(code))
        {
            return float.NaN;
        }

        var sign = (code >> (exponentBits + mantissaBits)) & 1;
        if (inf(code))
        {
            return sign == 1 ? float.NegativeInfinity : float.PositiveInfinity;
        }

        var exponent = (code >> mantissaBits) & ((1 << exponentBits) - 1);
        var mantissa = code & ((1 << mantissaBits) - 1);
        var magnitude = exponent == 0
            ? MathF.ScaleB(mantissa, 1 - bias - mantissaBits)
            : MathF.ScaleB(1f + mantissa / (float)(1 << mantissaBits), exponent - bias);
        return sign == 1 ? -magnitude : magnitude;
    }
}
