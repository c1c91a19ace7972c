using System.Numerics;
using System.Runtime.InteropServices;
using Compression.Core.Onnx.Tensors;

namespace Compression.Core.Data.Sampling;

/// <summary>
/// Writes sample values into a batch's typed array (the one <see cref="TensorData.ClrType"/> names) at an offset,
/// converting to the model's element type. Integers convert with saturation, floats to integers truncate.
/// Raw data is little-endian, as NumPy's "&lt;" dtypes and ONNX's raw_data are (and every host .NET runs on).
/// </summary>
public static class ElementConversion
{
    /// <summary>Allocates the array that holds <paramref name="count"/> elements of <paramref name="type"/>.</summary>
    public static Array Allocate(ElementType type, long count, string name, string path)
    {
        var clr = TensorData.ClrType(type);
        if (clr is null || type == ElementType.String)
        {
            throw DataErrors.Unsupported(path, $"The model input '{name}' has element type {ElementTypes.OnnxName(type)}, which data sources do not produce.");
        }

        return Array.CreateInstance(clr, checked((int)count));
    }

    /// <summary>Writes float values (pixels after normalization, random draws) into the target array.</summary>
    public static void Write(ReadOnlySpan<float> source, Array target, int offset)
    {
        switch (target)
        {
            case float[] floats: source.CopyTo(floats.AsSpan(offset)); break;
            case double[] doubles: Convert(source, doubles.AsSpan(offset, source.Length)); break;
            case Half[] halves: Convert(source, halves.AsSpan(offset, source.Length)); break;
            case long[] longs: Convert(source, longs.AsSpan(offset, source.Length)); break;
            case int[] ints: Convert(source, ints.AsSpan(offset, source.Length)); break;
            case short[] shorts: Convert(source, shorts.AsSpan(offset, source.Length)); break;
            case ushort[] ushorts: Convert(source, ushorts.AsSpan(offset, source.Length)); break;
            case uint[] uints: Convert(source, uints.AsSpan(offset, source.Length)); break;
            case ulong[] ulongs: Convert(source, ulongs.AsSpan(offset, source.Length)); break;
            case sbyte[] sbytes: Convert(source, sbytes.AsSpan(offset, source.Length)); break;
            case byte[] bytes: Convert(source, bytes.AsSpan(offset, source.Length)); break;
            default: throw new ArgumentException($"Arrays of {target.GetType().Name} are not batch arrays.", nameof(target));
        }
    }

    /// <summary>
    /// Writes <paramref name="count"/> little-endian values of <paramref name="sourceType"/> into the target array.
    /// The same type is a byte copy; other types convert through double (exact for every value up to 2^53).
    /// </summary>
    public static void WriteRaw(ReadOnlySpan<byte> source, ElementType sourceType, int count, Array target, int offset)
    {
        var targetType = target.GetType().GetElementType()!;
        if (TensorData.ClrType(sourceType) == targetType)
        {
            var width = source.Length / Math.Max(count, 1);
            var bytes = MemoryMarshal.CreateSpan(ref MemoryMarshal.GetArrayDataReference(target), target.Length * width);
            source[..(count * width)].CopyTo(bytes[(offset * width)..]);
            return;
        }

        var scratch = count <= 4096 ? stackalloc double[count] : new double[count];
        switch (sourceType)
        {
            case ElementType.Float: Widen(MemoryMarshal.Cast<byte, float>(source), scratch); break;
            case ElementType.Double: MemoryMarshal.Cast<byte, double>(source)[..count].CopyTo(scratch); break;
            case ElementType.Float16: Widen(MemoryMarshal.Cast<byte, Half>(source), scratch); break;
            case ElementType.Int64: Widen(MemoryMarshal.Cast<byte, long>(source), scratch); break;
            case ElementType.Int32: Widen(MemoryMarshal.Cast<byte, int>(source), scratch); break;
            case ElementType.Int16: Widen(MemoryMarshal.Cast<byte, short>(source), scratch); break;
            case ElementType.UInt16: Widen(MemoryMarshal.Cast<byte, ushort>(source), scratch); break;
            case ElementType.UInt32: Widen(MemoryMarshal.Cast<byte, uint>(source), scratch); break;
            case ElementType.UInt64: Widen(MemoryMarshal.Cast<byte, ulong>(source), scratch); break;
            case ElementType.Int8: Widen(MemoryMarshal.Cast<byte, sbyte>(source), scratch); break;
            case ElementType.UInt8 or ElementType.Bool: Widen(source, scratch); break;
            default: throw new ArgumentException($"Element type {sourceType} has no raw form here.", nameof(sourceType));
        }

        switch (target)
        {
            case float[] floats: Convert<double, float>(scratch, floats.AsSpan(offset, count)); break;
            case double[] doubles: scratch.CopyTo(doubles.AsSpan(offset)); break;
            case Half[] halves: Convert<double, Half>(scratch, halves.AsSpan(offset, count)); break;
            case long[] longs: Convert<double, long>(scratch, longs.AsSpan(offset, count)); break;
            case int[] ints: Convert<double, int>(scratch, ints.AsSpan(offset, count)); break;
            case short[] shorts: Convert<double, short>(scratch, shorts.AsSpan(offset, count)); break;
            case ushort[] ushorts: Convert<double, ushort>(scratch, ushorts.AsSpan(offset, count)); break;
            case uint[] uints: Convert<double, uint>(scratch, uints.AsSpan(offset, count)); break;
            case ulong[] ulongs: Convert<double, ulong>(scratch, ulongs.AsSpan(offset, count)); break;
            case sbyte[] sbytes: Convert<double, sbyte>(scratch, sbytes.AsSpan(offset, count)); break;
            case byte[] bytes: Convert<double, byte>(scratch, bytes.AsSpan(offset, count)); break;
            default: throw new ArgumentException($"Arrays of {target.GetType().Name} are not batch arrays.", nameof(target));
        }
    }

    private static void Widen<T>(ReadOnlySpan<T> source, Span<double> target)
        where T : INumberBase<T>
    {
        for (var i = 0; i < target.Length; i++)
        {
            target[i] = double.CreateTruncating(source[i]);
        }
    }

    private static void Convert<TFrom, TTo>(ReadOnlySpan<TFrom> source, Span<TTo> target)
        where TFrom : INumberBase<TFrom>
        where TTo : INumberBase<TTo>
    {
        for (var i = 0; i < target.Length; i++)
        {
            target[i] = TTo.CreateSaturating(source[i]);
        }
    }

    private static void Convert<TTo>(ReadOnlySpan<float> source, Span<TTo> target)
        where TTo : INumberBase<TTo> => Convert<float, TTo>(source, target);
}
