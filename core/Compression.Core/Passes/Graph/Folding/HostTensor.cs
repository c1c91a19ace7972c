using System.Buffers.Binary;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;

namespace Compression.Core.Passes.Graph.Folding;

/// <summary>
/// A small constant being folded: integer and bool types held as int64, float32 as float (so folded arithmetic
/// rounds exactly as ONNX Runtime's float kernels do). Other types are not folded.
/// </summary>
internal sealed class HostTensor
{
    private HostTensor(ElementType type, long[] dims, long[]? ints, float[]? floats)
    {
        Type = type;
        Dims = dims;
        Ints = ints;
        Floats = floats;
    }

    public ElementType Type { get; }

    public long[] Dims { get; }

    /// <summary>The values of an integer or bool tensor.</summary>
    public long[]? Ints { get; }

    /// <summary>The values of a float tensor.</summary>
    public float[]? Floats { get; }

    public int Count => Ints?.Length ?? Floats!.Length;

    public bool IsFloat => Floats is not null;

    public static bool IsIntegral(ElementType type) => type is ElementType.Int64 or ElementType.Int32 or ElementType.Int16 or ElementType.Int8
        or ElementType.UInt8 or ElementType.UInt16 or ElementType.UInt32 or ElementType.Bool;

    public static bool Supports(ElementType type) => IsIntegral(type) || type == ElementType.Float;

    public static HostTensor OfInts(ElementType type, long[] dims, long[] values) => new(type, dims, values, null);

    public static HostTensor OfFloats(long[] dims, float[] values) => new(ElementType.Float, dims, null, values);

    public static HostTensor? From(TensorProto tensor)
    {
        var type = TensorCodec.ElementTypeOf(tensor);
        var dims = tensor.Dims.ToArray();
        return type == ElementType.Float ? OfFloats(dims, TensorCodec.ToSingle(tensor))
            : IsIntegral(type) ? OfInts(type, dims, TensorCodec.ToInt64(tensor))
            : null;
    }

    /// <summary>The same kind of tensor with other dims and the values at <paramref name="sources"/>.</summary>
    public HostTensor Pick(long[] dims, int[] sources)
    {
        if (Floats is { } floats)
        {
            var picked = new float[sources.Length];
            for (var i = 0; i < sources.Length; i++)
            {
                picked[i] = floats[sources[i]];
            }

            return OfFloats(dims, picked);
        }

        var ints = new long[sources.Length];
        for (var i = 0; i < sources.Length; i++)
        {
            ints[i] = Ints![sources[i]];
        }

        return OfInts(Type, dims, ints);
    }

    public HostTensor WithDims(long[] dims) => new(Type, dims, Ints, Floats);

    public TensorProto ToTensor(string name)
    {
        if (Floats is { } floats)
        {
            return TensorCodec.FromSingle(name, Dims, floats, ElementType.Float);
        }

        if (Type == ElementType.Int64)
        {
            return TensorCodec.FromInt64(name, Dims, Ints!);
        }

        var width = ElementTypes.BitWidth(Type) / 8;
        var raw = new byte[Ints!.Length * width];
        for (var i = 0; i < Ints.Length; i++)
        {
            var slot = raw.AsSpan(i * width, width);
            switch (width)
            {
                case 1: slot[0] = (byte)Ints[i]; break;
                case 2: BinaryPrimitives.WriteInt16LittleEndian(slot, (short)Ints[i]); break;
                default: BinaryPrimitives.WriteInt32LittleEndian(slot, (int)Ints[i]); break;
            }
        }

        return TensorCodec.FromRaw(name, Dims, Type, raw);
    }

    /// <summary>Wraps an int64 result to the range of an integer type, as the C++ casts of the runtime do.</summary>
    public static long Wrap(ElementType type, long value) => type switch
    {
        ElementType.Int32 => (int)value,
        ElementType.Int16 => (short)value,
        ElementType.Int8 => (sbyte)value,
        ElementType.UInt8 => (byte)value,
        ElementType.UInt16 => (ushort)value,
        ElementType.UInt32 => (uint)value,
        ElementType.Bool => value != 0 ? 1 : 0,
        _ => value,
    };
}
