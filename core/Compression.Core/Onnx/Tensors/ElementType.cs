using Compression.Core.Onnx.Protobuf;

namespace Compression.Core.Onnx.Tensors;

/// <summary>ONNX element types; the values are <c>TensorProto.DataType</c>'s.</summary>
public enum ElementType
{
    Undefined = 0,
    Float = 1,
    UInt8 = 2,
    Int8 = 3,
    UInt16 = 4,
    Int16 = 5,
    Int32 = 6,
    Int64 = 7,
    String = 8,
    Bool = 9,
    Float16 = 10,
    Double = 11,
    UInt32 = 12,
    UInt64 = 13,
    Complex64 = 14,
    Complex128 = 15,
    BFloat16 = 16,
    Float8E4M3FN = 17,
    Float8E4M3FNUZ = 18,
    Float8E5M2 = 19,
    Float8E5M2FNUZ = 20,
    UInt4 = 21,
    Int4 = 22,
    Float4E2M1 = 23,
    Float8E8M0 = 24,
    UInt2 = 25,
    Int2 = 26,
}

/// <summary>Facts about element types: storage width, ONNX name, how typed fields hold them.</summary>
public static class ElementTypes
{
    /// <summary>Bits one element takes in <c>raw_data</c>; 0 for string and undefined.</summary>
    public static int BitWidth(ElementType type) => type switch
    {
        ElementType.Float or ElementType.Int32 or ElementType.UInt32 => 32,
        ElementType.Double or ElementType.Int64 or ElementType.UInt64 or ElementType.Complex64 => 64,
        ElementType.Complex128 => 128,
        ElementType.Float16 or ElementType.BFloat16 or ElementType.Int16 or ElementType.UInt16 => 16,
        ElementType.UInt8 or ElementType.Int8 or ElementType.Bool or ElementType.Float8E4M3FN or ElementType.Float8E4M3FNUZ
            or ElementType.Float8E5M2 or ElementType.Float8E5M2FNUZ or ElementType.Float8E8M0 => 8,
        ElementType.UInt4 or ElementType.Int4 or ElementType.Float4E2M1 => 4,
        ElementType.UInt2 or ElementType.Int2 => 2,
        _ => 0,
    };

    public static bool IsDefined(int value) => value is > 0 and <= (int)ElementType.Int2;

    /// <summary>Whether the type is a known, fixed-width type that raw bytes can hold.</summary>
    public static bool IsFixedWidth(ElementType type) => BitWidth(type) > 0;

    /// <summary>Whether elements of this type are packed several to a byte (4-bit and 2-bit types).</summary>
    public static bool IsSubByte(ElementType type) => BitWidth(type) is > 0 and < 8;

    /// <summary>Bytes that <paramref name="elements"/> elements take in raw form (sub-byte types round up).</summary>
    public static long RawByteLength(ElementType type, long elements)
    {
        var bits = BitWidth(type);
        if (bits == 0)
        {
            throw new ArgumentException($"Element type {type} has no fixed width.", nameof(type));
        }

        return bits >= 8 ? checked(elements * (bits / 8)) : (checked(elements * bits) + 7) / 8;
    }

    public static bool IsFloatingPoint(ElementType type) => type is ElementType.Float or ElementType.Double or ElementType.Float16
        or ElementType.BFloat16 or ElementType.Float8E4M3FN or ElementType.Float8E4M3FNUZ or ElementType.Float8E5M2
        or ElementType.Float8E5M2FNUZ or ElementType.Float4E2M1 or ElementType.Float8E8M0;

    /// <summary>The lower-case name ONNX uses in type strings (<c>tensor(float16)</c>).</summary>
    public static string OnnxName(ElementType type) => type switch
    {
        ElementType.Float => "float",
        ElementType.UInt8 => "uint8",
        ElementType.Int8 => "int8",
        ElementType.UInt16 => "uint16",
        ElementType.Int16 => "int16",
        ElementType.Int32 => "int32",
        ElementType.Int64 => "int64",
        ElementType.String => "string",
        ElementType.Bool => "bool",
        ElementType.Float16 => "float16",
        ElementType.Double => "double",
        ElementType.UInt32 => "uint32",
        ElementType.UInt64 => "uint64",
        ElementType.Complex64 => "complex64",
        ElementType.Complex128 => "complex128",
        ElementType.BFloat16 => "bfloat16",
        ElementType.Float8E4M3FN => "float8e4m3fn",
        ElementType.Float8E4M3FNUZ => "float8e4m3fnuz",
        ElementType.Float8E5M2 => "float8e5m2",
        ElementType.Float8E5M2FNUZ => "float8e5m2fnuz",
        ElementType.UInt4 => "uint4",
        ElementType.Int4 => "int4",
        ElementType.Float4E2M1 => "float4e2m1",
        ElementType.Float8E8M0 => "float8e8m0",
        ElementType.UInt2 => "uint2",
        ElementType.Int2 => "int2",
        _ => "undefined",
    };

    /// <summary>The name for an element type code read from a model, unknown codes included.</summary>
    public static string OnnxName(int code) => IsDefined(code) ? OnnxName((ElementType)code) : $"unknown({code})";

    /// <summary>Which typed field of <see cref="TensorProto"/> holds this type when raw_data is not used.</summary>
    internal static TypedField TypedFieldOf(ElementType type) => type switch
    {
        ElementType.Float or ElementType.Complex64 => TypedField.Float,
        ElementType.Double or ElementType.Complex128 => TypedField.Double,
        ElementType.Int64 => TypedField.Int64,
        ElementType.UInt32 or ElementType.UInt64 => TypedField.UInt64,
        ElementType.String => TypedField.String,
        ElementType.Undefined => TypedField.None,
        _ => TypedField.Int32,
    };
}

internal enum TypedField
{
    None,
    Float,
    Double,
    Int32,
    Int64,
    UInt64,
    String,
}
