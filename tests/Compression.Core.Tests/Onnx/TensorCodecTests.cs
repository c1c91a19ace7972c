using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;

namespace Compression.Core.Tests.Onnx;

public sealed class TensorCodecTests
{
    // Values every floating-point type holds exactly (e8m0 holds only powers of two); integer types round them.
    private static readonly float[] Sample = [0f, 1f, -1f, 2.5f, -3f, 6f, 0.5f, 4f];
    private static readonly float[] PowersOfTwo = [1f, 2f, 0.5f, 4f, 0.25f, 8f, 1f, 16f];

    private static float[] SampleFor(ElementType type) => type switch
    {
        ElementType.Float8E8M0 => PowersOfTwo,
        ElementType.Float4E2M1 or ElementType.Float8E5M2 or ElementType.Float8E5M2FNUZ => [.. Sample.Select(v => v == 2.5f ? 3f : v)],
        _ => Sample,
    };

    public static TheoryData<ElementType> NumericTypes() => new(Enum.GetValues<ElementType>()
        .Where(t => ElementTypes.IsFixedWidth(t) && t is not (ElementType.Complex64 or ElementType.Complex128)));

    [Theory]
    [MemberData(nameof(NumericTypes))]
    public void Raw_and_typed_fields_decode_to_the_same_values(ElementType type)
    {
        var sample = SampleFor(type);
        var raw = TensorCodec.FromSingle("t", [sample.Length], sample, type);
        var typed = ToTypedFields(raw, type);
        Assert.False(typed.HasRawData);
        Assert.Equal(TensorCodec.GetRawBytes(raw), TensorCodec.GetRawBytes(typed));
        Assert.Equal(TensorCodec.ToSingle(raw), TensorCodec.ToSingle(typed));
        Assert.Null(TensorCodec.CheckDataSize(typed, null));
        Assert.Equal(ElementTypes.RawByteLength(type, sample.Length), TensorCodec.StoredByteLength(typed));
    }

    [Theory]
    [MemberData(nameof(NumericTypes))]
    public void Values_exact_in_the_type_survive_encoding(ElementType type)
    {
        var sample = SampleFor(type);
        var decoded = TensorCodec.ToSingle(TensorCodec.FromSingle("t", [sample.Length], sample, type));
        for (var i = 0; i < sample.Length; i++)
        {
            var rounded = MathF.Round(sample[i], MidpointRounding.ToEven);
            var expected = type switch
            {
                ElementType.Bool => sample[i] != 0 ? 1f : 0f,
                ElementType.UInt8 or ElementType.UInt16 or ElementType.UInt32 or ElementType.UInt64 => MathF.Max(0, rounded),
                ElementType.UInt4 => Math.Clamp(rounded, 0, 15),
                ElementType.Int4 => Math.Clamp(rounded, -8, 7),
                ElementType.Int2 => Math.Clamp(rounded, -2, 1),
                ElementType.UInt2 => Math.Clamp(rounded, 0, 3),
                _ when !ElementTypes.IsFloatingPoint(type) => rounded,
                _ => sample[i],
            };
            Assert.Equal(expected, decoded[i]);
        }
    }

    [Theory]
    [InlineData(ElementType.Float8E4M3FN, 448f, 0x7E)]
    [InlineData(ElementType.Float8E4M3FN, 1000f, 0x7E)]
    [InlineData(ElementType.Float8E4M3FN, 1f, 0x38)]
    [InlineData(ElementType.Float8E4M3FN, -2f, 0xC0)]
    [InlineData(ElementType.Float8E4M3FN, float.NaN, 0x7F)]
    [InlineData(ElementType.Float8E4M3FN, float.PositiveInfinity, 0x7E)]
    [InlineData(ElementType.Float8E4M3FNUZ, 1f, 0x40)]
    [InlineData(ElementType.Float8E4M3FNUZ, float.PositiveInfinity, 0x80)]
    [InlineData(ElementType.Float8E4M3FNUZ, -0f, 0x00)]
    [InlineData(ElementType.Float8E5M2, 1f, 0x3C)]
    [InlineData(ElementType.Float8E5M2, 57344f, 0x7B)]
    [InlineData(ElementType.Float8E5M2FNUZ, 1f, 0x40)]
    [InlineData(ElementType.Float8E8M0, 1f, 127)]
    [InlineData(ElementType.Float8E8M0, 0.25f, 125)]
    [InlineData(ElementType.Float4E2M1, 6f, 0x7)]
    [InlineData(ElementType.Float4E2M1, -0.5f, 0x9)]
    [InlineData(ElementType.Float4E2M1, 2.5f, 0x4)]
    public void Mini_floats_encode_to_the_formats_codes(ElementType type, float value, int code)
    {
        var tensor = TensorCodec.FromSingle("t", [1], [value], type);
        Assert.Equal((byte)code, tensor.RawData[0]);
    }

    [Fact]
    public void Sub_byte_types_pack_the_first_element_in_the_low_bits()
    {
        Assert.Equal([0xF1], TensorCodec.FromSingle("t", [2], [1f, -1f], ElementType.Int4).RawData.ToByteArray());
        Assert.Equal([0x03], TensorCodec.FromSingle("t", [1], [3f], ElementType.UInt4).RawData.ToByteArray());
        Assert.Equal([0b11_10_01_00], TensorCodec.FromSingle("t", [4], [0f, 1f, 2f, 3f], ElementType.UInt2).RawData.ToByteArray());
        Assert.Equal([1L, -1L, 7L], TensorCodec.ToInt64(TensorCodec.FromSingle("t", [3], [1f, -1f, 7f], ElementType.Int4)));
    }

    [Fact]
    public void BFloat16_rounds_to_nearest_even()
    {
        Assert.Equal(0x3F80, TensorCodec.ToBFloat16(1f));
        Assert.Equal(0x3F80, TensorCodec.ToBFloat16(BitConverter.UInt32BitsToSingle(0x3F808000)));
        Assert.Equal(0x3F82, TensorCodec.ToBFloat16(BitConverter.UInt32BitsToSingle(0x3F818000)));
        Assert.True(float.IsNaN(TensorCodec.ToSingle(TensorCodec.FromSingle("n", [1], [float.NaN], ElementType.BFloat16))[0]));
    }

    [Fact]
    public void Strings_complex_and_mismatches()
    {
        var strings = TensorCodec.FromStrings("s", [2], ["héllo", ""]);
        Assert.Equal(["héllo", ""], TensorCodec.ToStrings(strings));
        Assert.Equal(-1, TensorCodec.StoredByteLength(strings));
        Assert.Null(TensorCodec.CheckDataSize(strings, null));

        var complex = new TensorProto { Name = "c", DataType = (int)ElementType.Complex64 };
        complex.Dims.Add(2);
        complex.FloatData.AddRange([1f, 2f, 3f, 4f]);
        Assert.Null(TensorCodec.CheckDataSize(complex, null));
        Assert.Equal(16, TensorCodec.GetRawBytes(complex).Length);

        complex.FloatData.RemoveAt(3);
        Assert.Equal(Compression.Core.Diagnostics.ErrorCodes.TensorDataMismatch, TensorCodec.CheckDataSize(complex, "m.onnx")!.Code);
    }

    private static TensorProto ToTypedFields(TensorProto raw, ElementType type)
    {
        var typed = new TensorProto { Name = raw.Name, DataType = raw.DataType };
        typed.Dims.AddRange(raw.Dims);
        var bytes = raw.RawData.Span;
        switch (type)
        {
            case ElementType.Float:
                typed.FloatData.AddRange(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(bytes).ToArray());
                break;
            case ElementType.Double:
                typed.DoubleData.AddRange(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, double>(bytes).ToArray());
                break;
            case ElementType.Int64:
                typed.Int64Data.AddRange(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(bytes).ToArray());
                break;
            case ElementType.UInt64:
                typed.Uint64Data.AddRange(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ulong>(bytes).ToArray());
                break;
            case ElementType.UInt32:
                typed.Uint64Data.AddRange(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, uint>(bytes).ToArray().Select(v => (ulong)v));
                break;
            case ElementType.Int32:
                typed.Int32Data.AddRange(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, int>(bytes).ToArray());
                break;
            case ElementType.Int16:
                typed.Int32Data.AddRange(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, short>(bytes).ToArray().Select(v => (int)v));
                break;
            case ElementType.UInt16 or ElementType.Float16 or ElementType.BFloat16:
                typed.Int32Data.AddRange(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ushort>(bytes).ToArray().Select(v => (int)v));
                break;
            case ElementType.Int8:
                typed.Int32Data.AddRange(bytes.ToArray().Select(v => (int)(sbyte)v));
                break;
            default:
                // uint8, bool, float8 one per int32; 4-bit and 2-bit types one packed byte per int32.
                typed.Int32Data.AddRange(bytes.ToArray().Select(v => (int)v));
                break;
        }

        return typed;
    }
}
