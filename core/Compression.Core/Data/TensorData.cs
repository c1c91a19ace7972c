using Compression.Core.Onnx.Tensors;

namespace Compression.Core.Data;

/// <summary>
/// One dense tensor of a batch, held as a plain typed array so ONNX Runtime can read it in place:
/// float[] for float, long[] for int64, int[] for int32, byte[] for uint8 and bool, sbyte[] for int8,
/// double[] for double, Half[] for float16, string[] for string.
/// </summary>
public sealed class TensorData
{
    public TensorData(string name, ElementType type, long[] shape, Array values)
    {
        ArgumentNullException.ThrowIfNull(values);
        var expected = TensorCodec.ElementCount(shape, name);
        if (values.LongLength != expected)
        {
            throw new ArgumentException($"Tensor '{name}' has shape [{string.Join(",", shape)}] ({expected} elements) but {values.LongLength} values.", nameof(values));
        }

        if (values.GetType().GetElementType() != ClrType(type))
        {
            throw new ArgumentException($"Tensor '{name}' of type {ElementTypes.OnnxName(type)} must be held in a {ClrType(type)?.Name ?? "(unsupported)"}[] array, not {values.GetType().Name}.", nameof(values));
        }

        Name = name;
        Type = type;
        Shape = shape;
        Values = values;
    }

    public string Name { get; }

    public ElementType Type { get; }

    public long[] Shape { get; }

    public Array Values { get; }

    public long ElementCount => Values.LongLength;

    public static TensorData Float(string name, long[] shape, float[] values) => new(name, ElementType.Float, shape, values);

    public static TensorData Int64(string name, long[] shape, long[] values) => new(name, ElementType.Int64, shape, values);

    /// <summary>The array type that holds an element type; null for types batches do not carry.</summary>
    public static Type? ClrType(ElementType type) => type switch
    {
        ElementType.Float => typeof(float),
        ElementType.Double => typeof(double),
        ElementType.Float16 => typeof(Half),
        ElementType.Int64 => typeof(long),
        ElementType.Int32 => typeof(int),
        ElementType.Int16 => typeof(short),
        ElementType.UInt16 => typeof(ushort),
        ElementType.Int8 => typeof(sbyte),
        ElementType.UInt8 or ElementType.Bool => typeof(byte),
        ElementType.UInt32 => typeof(uint),
        ElementType.UInt64 => typeof(ulong),
        ElementType.String => typeof(string),
        _ => null,
    };

    public override string ToString() => $"{Name}: {ElementTypes.OnnxName(Type)}[{string.Join(",", Shape)}]";
}
