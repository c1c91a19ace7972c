using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using Compression.Core.Diagnostics;
using Compression.Core.Onnx.Protobuf;
using Google.Protobuf;

namespace Compression.Core.Onnx.Tensors;

/// <summary>
/// Reads and writes the values of a <see cref="TensorProto"/> for every ONNX element type, from either
/// <c>raw_data</c> (little-endian, sub-byte types packed low nibble first) or the typed fields.
/// External data must have been loaded into <c>raw_data</c> first (the model loader does that).
/// </summary>
public static class TensorCodec
{
    static TensorCodec()
    {
        // raw_data is little-endian; every platform we ship for is too, so spans are reinterpreted in place.
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("Compression needs a little-endian machine.");
        }
    }

    public static ElementType ElementTypeOf(TensorProto tensor) =>
        ElementTypes.IsDefined(tensor.DataType) ? (ElementType)tensor.DataType : ElementType.Undefined;

    /// <summary>The number of elements the dims declare; an error for negative dims or overflow.</summary>
    public static long ElementCount(TensorProto tensor) => ElementCount(tensor.Dims, tensor.Name);

    public static long ElementCount(IReadOnlyList<long> dims, string? name = null)
    {
        long count = 1;
        foreach (var dim in dims)
        {
            if (dim < 0)
            {
                throw new CompressionException(Diagnostic.Error(ErrorCodes.TensorDataMismatch,
                    $"Tensor '{name}' has a negative dimension ({dim})."));
            }

            try
            {
                count = checked(count * dim);
            }
            catch (OverflowException)
            {
                throw new CompressionException(Diagnostic.Error(ErrorCodes.TensorDataMismatch,
                    $"Tensor '{name}' declares more elements than can be counted ({string.Join("x", dims)})."));
            }
        }

        return count;
    }

    /// <summary>Whether the tensor's data lives in an external file (not yet loaded into raw_data).</summary>
    public static bool IsExternal(TensorProto tensor) =>
        tensor.HasDataLocation && tensor.DataLocation == TensorProto.Types.DataLocation.External;

    /// <summary>
    /// Bytes the tensor's values take in raw form, from whichever field holds them (external length included);
    /// -1 for string tensors.
    /// </summary>
    public static long StoredByteLength(TensorProto tensor)
    {
        var type = ElementTypeOf(tensor);
        if (type == ElementType.String)
        {
            return -1;
        }

        if (IsExternal(tensor))
        {
            return ExternalDataInfo.Parse(tensor).Length ?? -1;
        }

        if (tensor.HasRawData)
        {
            return tensor.RawData.Length;
        }

        return ElementTypes.TypedFieldOf(type) switch
        {
            TypedField.Float => 4L * tensor.FloatData.Count,
            TypedField.Double => 8L * tensor.DoubleData.Count,
            TypedField.Int64 => 8L * tensor.Int64Data.Count,
            TypedField.UInt64 => (long)tensor.Uint64Data.Count * (ElementTypes.BitWidth(type) / 8),
            TypedField.Int32 when ElementTypes.IsSubByte(type) => tensor.Int32Data.Count,
            TypedField.Int32 => (long)tensor.Int32Data.Count * (ElementTypes.BitWidth(type) / 8),
            _ => 0,
        };
    }

    /// <summary>
    /// Checks that the stored data matches the declared shape, without reading or allocating the data:
    /// a tensor that declares 10^12 elements and holds none is refused here.
    /// </summary>
    public static Diagnostic? CheckDataSize(TensorProto tensor, string? file)
    {
        // A segment holds a slice of the values that the dims describe, and nothing here joins slices: every reader
        // would take it for the whole tensor (a fuzzed one with 2^40 elements made decoding allocate for all of them).
        if (tensor.Segment is not null)
        {
            return Diagnostic.Error(ErrorCodes.TensorSegmented,
                $"Tensor '{tensor.Name}' holds only the segment [{tensor.Segment.Begin}, {tensor.Segment.End}) of its values; segmented tensors are not read.", file);
        }

        var type = ElementTypeOf(tensor);
        if (type == ElementType.Undefined)
        {
            return Diagnostic.Error(ErrorCodes.UnsupportedElementType,
                $"Tensor '{tensor.Name}' has element type code {tensor.DataType}, which is not an ONNX element type.", file);
        }

        long count;
        try
        {
            count = ElementCount(tensor);
        }
        catch (CompressionException e)
        {
            return e.Diagnostic with { File = file };
        }

        if (type == ElementType.String)
        {
            return tensor.StringData.Count == count ? null : Diagnostic.Error(ErrorCodes.TensorDataMismatch,
                $"Tensor '{tensor.Name}' declares {count} strings but holds {tensor.StringData.Count}.", file);
        }

        long expected;
        try
        {
            expected = ElementTypes.RawByteLength(type, count);
        }
        catch (OverflowException)
        {
            return Diagnostic.Error(ErrorCodes.TensorDataMismatch,
                $"Tensor '{tensor.Name}' declares {count} elements, more bytes than can be counted.", file);
        }

        var stored = StoredByteLength(tensor);
        if (stored < 0 && IsExternal(tensor))
        {
            // External data without a length runs to the end of the file; the loader checks it against the file.
            return null;
        }

        return stored == expected ? null : Diagnostic.Error(ErrorCodes.TensorDataMismatch,
            $"Tensor '{tensor.Name}' ({ElementTypes.OnnxName(type)}[{string.Join(",", tensor.Dims)}]) declares {count} elements " +
            $"({FormatBytes(expected)}) but holds {FormatBytes(stored)} of data.", file);
    }

    /// <summary>The tensor's values as little-endian raw bytes, whichever field held them.</summary>
    public static byte[] GetRawBytes(TensorProto tensor)
    {
        var type = ElementTypeOf(tensor);
        RequireInMemory(tensor);
        if (!ElementTypes.IsFixedWidth(type))
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.UnsupportedElementType,
                $"Tensor '{tensor.Name}' of type {ElementTypes.OnnxName(tensor.DataType)} has no raw byte form."));
        }

        if (tensor.HasRawData)
        {
            return tensor.RawData.ToByteArray();
        }

        var count = ElementCount(tensor);
        var raw = new byte[ElementTypes.RawByteLength(type, count)];
        switch (ElementTypes.TypedFieldOf(type))
        {
            case TypedField.Float:
                CopyTo<float>(tensor.FloatData, raw);
                break;
            case TypedField.Double:
                CopyTo<double>(tensor.DoubleData, raw);
                break;
            case TypedField.Int64:
                CopyTo<long>(tensor.Int64Data, raw);
                break;
            case TypedField.UInt64 when type == ElementType.UInt64:
                CopyTo<ulong>(tensor.Uint64Data, raw);
                break;
            case TypedField.UInt64:
                for (var i = 0; i < tensor.Uint64Data.Count && i * 4 < raw.Length; i++)
                {
                    BinaryPrimitives.WriteUInt32LittleEndian(raw.AsSpan(i * 4), (uint)tensor.Uint64Data[i]);
                }

                break;
            case TypedField.Int32:
                var width = Math.Max(1, ElementTypes.BitWidth(type) / 8);
                for (var i = 0; i < tensor.Int32Data.Count && i * width < raw.Length; i++)
                {
                    var value = tensor.Int32Data[i];
                    switch (width)
                    {
                        case 1: raw[i] = (byte)value; break;
                        case 2: BinaryPrimitives.WriteInt16LittleEndian(raw.AsSpan(i * 2), (short)value); break;
                        default: BinaryPrimitives.WriteInt32LittleEndian(raw.AsSpan(i * 4), value); break;
                    }
                }

                break;
        }

        return raw;
    }

    /// <summary>Decodes the values of any real numeric tensor to float (float16, bfloat16, float8, int4 and the rest).</summary>
    public static float[] ToSingle(TensorProto tensor)
    {
        var type = ElementTypeOf(tensor);
        if (type == ElementType.Float && !tensor.HasRawData && !IsExternal(tensor))
        {
            var direct = new float[tensor.FloatData.Count];
            tensor.FloatData.CopyTo(direct, 0);
            return direct;
        }

        var raw = GetRawBytes(tensor);
        var count = checked((int)ElementCount(tensor));
        var values = new float[count];
        DecodeToSingle(type, raw, values, tensor.Name);
        return values;
    }

    /// <summary>Decodes the values of an integer (or bool) tensor to int64, as shape-like inputs need.</summary>
    public static long[] ToInt64(TensorProto tensor)
    {
        var type = ElementTypeOf(tensor);
        var raw = GetRawBytes(tensor);
        var count = checked((int)ElementCount(tensor));
        var values = new long[count];
        for (var i = 0; i < count; i++)
        {
            values[i] = type switch
            {
                ElementType.Int64 => BinaryPrimitives.ReadInt64LittleEndian(raw.AsSpan(i * 8)),
                ElementType.UInt64 => (long)BinaryPrimitives.ReadUInt64LittleEndian(raw.AsSpan(i * 8)),
                ElementType.Int32 => BinaryPrimitives.ReadInt32LittleEndian(raw.AsSpan(i * 4)),
                ElementType.UInt32 => BinaryPrimitives.ReadUInt32LittleEndian(raw.AsSpan(i * 4)),
                ElementType.Int16 => BinaryPrimitives.ReadInt16LittleEndian(raw.AsSpan(i * 2)),
                ElementType.UInt16 => BinaryPrimitives.ReadUInt16LittleEndian(raw.AsSpan(i * 2)),
                ElementType.Int8 => (sbyte)raw[i],
                ElementType.UInt8 or ElementType.Bool => raw[i],
                ElementType.Int4 => SignExtend(Nibble(raw, i), 4),
                ElementType.UInt4 => Nibble(raw, i),
                ElementType.Int2 => SignExtend(Crumb(raw, i), 2),
                ElementType.UInt2 => Crumb(raw, i),
                _ => throw NotNumeric(tensor.Name, type, "integer"),
            };
        }

        return values;
    }

    /// <summary>The values of a string tensor, decoded as UTF-8.</summary>
    public static string[] ToStrings(TensorProto tensor)
    {
        if (ElementTypeOf(tensor) != ElementType.String)
        {
            throw NotNumeric(tensor.Name, ElementTypeOf(tensor), "string");
        }

        var values = new string[tensor.StringData.Count];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = tensor.StringData[i].ToStringUtf8();
        }

        return values;
    }

    /// <summary>Builds a tensor whose values are given as raw little-endian bytes.</summary>
    public static TensorProto FromRaw(string name, ReadOnlySpan<long> dims, ElementType type, ReadOnlySpan<byte> raw)
    {
        var expected = ElementTypes.RawByteLength(type, ElementCount(dims.ToArray(), name));
        if (raw.Length != expected)
        {
            throw new ArgumentException($"Tensor '{name}' needs {expected} bytes, got {raw.Length}.", nameof(raw));
        }

        var tensor = NewTensor(name, dims, type);
        tensor.RawData = ByteString.CopyFrom(raw);
        return tensor;
    }

    /// <summary>Encodes float values into a tensor of the given floating-point or integer element type.</summary>
    public static TensorProto FromSingle(string name, ReadOnlySpan<long> dims, ReadOnlySpan<float> values, ElementType type)
    {
        var count = ElementCount(dims.ToArray(), name);
        if (values.Length != count)
        {
            throw new ArgumentException($"Tensor '{name}' needs {count} values, got {values.Length}.", nameof(values));
        }

        var raw = new byte[ElementTypes.RawByteLength(type, count)];
        EncodeFromSingle(type, values, raw, name);
        var tensor = NewTensor(name, dims, type);
        tensor.RawData = ByteString.CopyFrom(raw);
        return tensor;
    }

    /// <summary>Builds an int64 tensor, the type shape and axes inputs take.</summary>
    public static TensorProto FromInt64(string name, ReadOnlySpan<long> dims, ReadOnlySpan<long> values)
    {
        var tensor = NewTensor(name, dims, ElementType.Int64);
        tensor.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values));
        return tensor;
    }

    /// <summary>Builds a string tensor.</summary>
    public static TensorProto FromStrings(string name, ReadOnlySpan<long> dims, IEnumerable<string> values)
    {
        var tensor = NewTensor(name, dims, ElementType.String);
        foreach (var value in values)
        {
            tensor.StringData.Add(ByteString.CopyFrom(value, Encoding.UTF8));
        }

        return tensor;
    }

    /// <summary>Rewrites a tensor held in typed fields into the canonical raw_data form (strings stay typed).</summary>
    public static void ConvertToRaw(TensorProto tensor)
    {
        if (tensor.HasRawData || IsExternal(tensor) || !ElementTypes.IsFixedWidth(ElementTypeOf(tensor)))
        {
            return;
        }

        var raw = GetRawBytes(tensor);
        tensor.FloatData.Clear();
        tensor.DoubleData.Clear();
        tensor.Int32Data.Clear();
        tensor.Int64Data.Clear();
        tensor.Uint64Data.Clear();
        tensor.RawData = ByteString.CopyFrom(raw);
    }

    internal static void DecodeToSingle(ElementType type, ReadOnlySpan<byte> raw, Span<float> values, string? name)
    {
        switch (type)
        {
            case ElementType.Float:
                MemoryMarshal.Cast<byte, float>(raw)[..values.Length].CopyTo(values);
                return;
            case ElementType.Double:
                var doubles = MemoryMarshal.Cast<byte, double>(raw);
                for (var i = 0; i < values.Length; i++)
                {
                    values[i] = (float)doubles[i];
                }

                return;
            case ElementType.Float16:
                var halves = MemoryMarshal.Cast<byte, Half>(raw);
                for (var i = 0; i < values.Length; i++)
                {
                    values[i] = (float)halves[i];
                }

                return;
            case ElementType.BFloat16:
                var shorts = MemoryMarshal.Cast<byte, ushort>(raw);
                for (var i = 0; i < values.Length; i++)
                {
                    values[i] = BitConverter.Int32BitsToSingle(shorts[i] << 16);
                }

                return;
            case ElementType.Float8E4M3FN or ElementType.Float8E4M3FNUZ or ElementType.Float8E5M2
                or ElementType.Float8E5M2FNUZ or ElementType.Float8E8M0:
                var table = MiniFloat.For(type);
                for (var i = 0; i < values.Length; i++)
                {
                    values[i] = table.Decode(raw[i]);
                }

                return;
            case ElementType.Float4E2M1:
                for (var i = 0; i < values.Length; i++)
                {
                    values[i] = MiniFloat.E2M1.Decode(Nibble(raw, i));
                }

                return;
            case ElementType.Int8:
                for (var i = 0; i < values.Length; i++)
                {
                    values[i] = (sbyte)raw[i];
                }

                return;
            case ElementType.UInt8 or ElementType.Bool:
                for (var i = 0; i < values.Length; i++)
                {
                    values[i] = raw[i];
                }

                return;
            case ElementType.Int16 or ElementType.UInt16 or ElementType.Int32 or ElementType.UInt32 or ElementType.Int64
                or ElementType.UInt64 or ElementType.Int4 or ElementType.UInt4 or ElementType.Int2 or ElementType.UInt2:
                for (var i = 0; i < values.Length; i++)
                {
                    values[i] = ReadInteger(type, raw, i);
                }

                return;
            default:
                throw NotNumeric(name, type, "real number");
        }
    }

    internal static void EncodeFromSingle(ElementType type, ReadOnlySpan<float> values, Span<byte> raw, string? name)
    {
        switch (type)
        {
            case ElementType.Float:
                MemoryMarshal.AsBytes(values).CopyTo(raw);
                return;
            case ElementType.Double:
                var doubles = MemoryMarshal.Cast<byte, double>(raw);
                for (var i = 0; i < values.Length; i++)
                {
                    doubles[i] = values[i];
                }

                return;
            case ElementType.Float16:
                var halves = MemoryMarshal.Cast<byte, Half>(raw);
                for (var i = 0; i < values.Length; i++)
                {
                    halves[i] = (Half)values[i];
                }

                return;
            case ElementType.BFloat16:
                var shorts = MemoryMarshal.Cast<byte, ushort>(raw);
                for (var i = 0; i < values.Length; i++)
                {
                    shorts[i] = ToBFloat16(values[i]);
                }

                return;
            case ElementType.Float8E4M3FN or ElementType.Float8E4M3FNUZ or ElementType.Float8E5M2
                or ElementType.Float8E5M2FNUZ or ElementType.Float8E8M0:
                var table = MiniFloat.For(type);
                for (var i = 0; i < values.Length; i++)
                {
                    raw[i] = table.Encode(values[i]);
                }

                return;
            case ElementType.Float4E2M1:
                raw.Clear();
                for (var i = 0; i < values.Length; i++)
                {
                    raw[i >> 1] |= (byte)(MiniFloat.E2M1.Encode(values[i]) << ((i & 1) * 4));
                }

                return;
            case ElementType.Bool:
                for (var i = 0; i < values.Length; i++)
                {
                    raw[i] = values[i] != 0 ? (byte)1 : (byte)0;
                }

                return;
            case ElementType.Int4 or ElementType.UInt4 or ElementType.Int2 or ElementType.UInt2:
                raw.Clear();
                var bits = ElementTypes.BitWidth(type);
                var perByte = 8 / bits;
                var mask = (1 << bits) - 1;
                for (var i = 0; i < values.Length; i++)
                {
                    var v = (int)Saturate(type, values[i]);
                    raw[i / perByte] |= (byte)((v & mask) << ((i % perByte) * bits));
                }

                return;
            case ElementType.Int8 or ElementType.UInt8 or ElementType.Int16 or ElementType.UInt16 or ElementType.Int32
                or ElementType.UInt32 or ElementType.Int64 or ElementType.UInt64:
                var width = ElementTypes.BitWidth(type) / 8;
                for (var i = 0; i < values.Length; i++)
                {
                    var v = Saturate(type, values[i]);
                    var slot = raw.Slice(i * width, width);
                    switch (type)
                    {
                        case ElementType.Int8: slot[0] = (byte)(sbyte)v; break;
                        case ElementType.UInt8: slot[0] = (byte)v; break;
                        case ElementType.Int16: BinaryPrimitives.WriteInt16LittleEndian(slot, (short)v); break;
                        case ElementType.UInt16: BinaryPrimitives.WriteUInt16LittleEndian(slot, (ushort)v); break;
                        case ElementType.Int32: BinaryPrimitives.WriteInt32LittleEndian(slot, (int)v); break;
                        case ElementType.UInt32: BinaryPrimitives.WriteUInt32LittleEndian(slot, (uint)v); break;
                        case ElementType.Int64: BinaryPrimitives.WriteInt64LittleEndian(slot, (long)v); break;
                        default: BinaryPrimitives.WriteUInt64LittleEndian(slot, (ulong)v); break;
                    }
                }

                return;
            default:
                throw NotNumeric(name, type, "real number");
        }
    }

    /// <summary>float to bfloat16, round to nearest even, NaN kept quiet.</summary>
    public static ushort ToBFloat16(float value)
    {
        var bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value))
        {
            return (ushort)((bits >> 16) | 0x40);
        }

        return (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
    }

    internal static string FormatBytes(long bytes) => bytes switch
    {
        < 0 => "an unknown amount",
        < 1024 => $"{bytes} B",
        < 1024 * 1024 => $"{bytes / 1024.0:0.#} KB",
        < 1024L * 1024 * 1024 => $"{bytes / (1024.0 * 1024):0.#} MB",
        < 1024L * 1024 * 1024 * 1024 => $"{bytes / (1024.0 * 1024 * 1024):0.#} GB",
        _ => $"{bytes / (1024.0 * 1024 * 1024 * 1024):0.#} TB",
    };

    private static TensorProto NewTensor(string name, ReadOnlySpan<long> dims, ElementType type)
    {
        var tensor = new TensorProto { Name = name, DataType = (int)type };
        foreach (var dim in dims)
        {
            tensor.Dims.Add(dim);
        }

        return tensor;
    }

    private static void RequireInMemory(TensorProto tensor)
    {
        if (IsExternal(tensor))
        {
            throw new InvalidOperationException($"Tensor '{tensor.Name}' still refers to external data; load the model with its external data.");
        }
    }

    private static void CopyTo<T>(Google.Protobuf.Collections.RepeatedField<T> source, byte[] destination)
        where T : unmanaged
    {
        var target = MemoryMarshal.Cast<byte, T>(destination.AsSpan());
        var count = Math.Min(source.Count, target.Length);
        for (var i = 0; i < count; i++)
        {
            target[i] = source[i];
        }
    }

    private static float ReadInteger(ElementType type, ReadOnlySpan<byte> raw, int i) => type switch
    {
        ElementType.Int16 => BinaryPrimitives.ReadInt16LittleEndian(raw[(i * 2)..]),
        ElementType.UInt16 => BinaryPrimitives.ReadUInt16LittleEndian(raw[(i * 2)..]),
        ElementType.Int32 => BinaryPrimitives.ReadInt32LittleEndian(raw[(i * 4)..]),
        ElementType.UInt32 => BinaryPrimitives.ReadUInt32LittleEndian(raw[(i * 4)..]),
        ElementType.Int64 => BinaryPrimitives.ReadInt64LittleEndian(raw[(i * 8)..]),
        ElementType.UInt64 => BinaryPrimitives.ReadUInt64LittleEndian(raw[(i * 8)..]),
        ElementType.Int4 => SignExtend(Nibble(raw, i), 4),
        ElementType.UInt4 => Nibble(raw, i),
        ElementType.Int2 => SignExtend(Crumb(raw, i), 2),
        _ => Crumb(raw, i),
    };

    private static int Nibble(ReadOnlySpan<byte> raw, int i) => (raw[i >> 1] >> ((i & 1) * 4)) & 0xF;

    private static int Crumb(ReadOnlySpan<byte> raw, int i) => (raw[i >> 2] >> ((i & 3) * 2)) & 0x3;

    private static int SignExtend(int value, int bits) => (value << (32 - bits)) >> (32 - bits);

    /// <summary>Rounds half to even and clamps to the integer type's range, as QuantizeLinear does.</summary>
    private static double Saturate(ElementType type, float value)
    {
        if (float.IsNaN(value))
        {
            return 0;
        }

        var (min, max) = type switch
        {
            ElementType.Int8 => (sbyte.MinValue, sbyte.MaxValue),
            ElementType.UInt8 => (byte.MinValue, byte.MaxValue),
            ElementType.Int16 => (short.MinValue, short.MaxValue),
            ElementType.UInt16 => (ushort.MinValue, ushort.MaxValue),
            ElementType.Int32 => (int.MinValue, int.MaxValue),
            ElementType.UInt32 => (uint.MinValue, uint.MaxValue),
            ElementType.Int64 => (long.MinValue, long.MaxValue),
            ElementType.UInt64 => (0d, ulong.MaxValue),
            ElementType.Int4 => (-8d, 7d),
            ElementType.UInt4 => (0d, 15d),
            ElementType.Int2 => (-2d, 1d),
            _ => (0d, 3d),
        };
        return Math.Clamp(Math.Round((double)value, MidpointRounding.ToEven), min, max);
    }

    private static CompressionException NotNumeric(string? name, ElementType type, string wanted) =>
        new(Diagnostic.Error(ErrorCodes.UnsupportedElementType,
            $"Tensor '{name}' has element type {ElementTypes.OnnxName(type)}, which cannot be read as a {wanted}."));
}
