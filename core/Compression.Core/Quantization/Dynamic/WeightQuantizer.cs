using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using Compression.Core.Numerics;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;

namespace Compression.Core.Quantization.Dynamic;

/// <summary>
/// Quantizes float matrices to 8-bit codes offline, with one scale per column (a MatMul weight [K, N]: per output
/// channel; an embedding table [V, D]: per dimension) or one for the whole matrix. Codes are stored as bytes: an s8
/// code is its two's-complement byte.
/// </summary>
internal static class WeightQuantizer
{
    /// <summary>Matrices larger than this are split over threads; below it the hand-off costs more than it saves.</summary>
    private const int ParallelThreshold = 1 << 18;

    /// <summary>Rows up to this many floats get their scratch space on the stack.</summary>
    private const int StackLimit = 4096;

    /// <summary>Quantizes a row-major [rows, columns] matrix with one range per column (or one for all).</summary>
    public static QuantizedWeight QuantizeColumns(ReadOnlyMemory<byte> matrixBytes, int rows, int columns, QuantizedType type, bool symmetric, bool reduceRange, bool perColumn)
    {
        var matrix = MemoryMarshal.Cast<byte, float>(matrixBytes.Span);
        var min = new float[columns];
        var max = new float[columns];
        Array.Fill(min, float.PositiveInfinity);
        Array.Fill(max, float.NegativeInfinity);
        for (var r = 0; r < rows; r++)
        {
            var row = matrix.Slice(r * columns, columns);
            TensorPrimitives.Min(min, row, min);
            TensorPrimitives.Max(max, row, max);
        }

        var parameters = perColumn ? new QuantParams[columns] : new QuantParams[1];
        if (perColumn)
        {
            for (var c = 0; c < columns; c++)
            {
                parameters[c] = QuantMath.Compute(min[c], max[c], type, symmetric, reduceRange);
            }
        }
        else
        {
            parameters[0] = QuantMath.Compute(Min(min), Max(max), type, symmetric, reduceRange);
        }

        var (qmin, qmax) = QuantMath.Range(type, reduceRange);
        var weight = ToWeight(parameters, new byte[matrix.Length]);
        var scales = perColumn ? weight.Scales : Fill(columns, weight.Scales[0]);
        var zeroPoints = new float[columns];
        for (var c = 0; c < columns; c++)
        {
            zeroPoints[c] = weight.ZeroPoints[perColumn ? c : 0];
        }

        For(rows, matrix.Length, r =>
            QuantizeRow(MemoryMarshal.Cast<byte, float>(matrixBytes.Span).Slice(r * columns, columns), scales, zeroPoints, qmin, qmax, weight.Codes.AsSpan(r * columns, columns)));
        return weight;
    }

    /// <summary>
    /// A float tensor's little-endian bytes: raw data (the usual form, often memory-mapped) is read in place, since
    /// copying a large table costs more than quantizing it.
    /// </summary>
    public static ReadOnlyMemory<byte> FloatBytes(TensorProto tensor) =>
        tensor.HasRawData ? tensor.RawData.Memory : TensorCodec.GetRawBytes(tensor);

    /// <summary>
    /// One row of a matrix whose columns each have their own scale and zero point: round half to even, clamp, store;
    /// the codes of <see cref="QuantMath.Quantize(float, QuantParams, int, int)"/>, vectorized.
    /// </summary>
    public static void QuantizeRow(ReadOnlySpan<float> values, ReadOnlySpan<float> scales, ReadOnlySpan<float> zeroPoints, int qmin, int qmax, Span<byte> codes)
    {
        var scaled = values.Length <= StackLimit ? stackalloc float[values.Length] : new float[values.Length];
        TensorPrimitives.Divide(values, scales, scaled);
        TensorPrimitives.Round(scaled, MidpointRounding.ToEven, scaled);
        TensorPrimitives.Add(scaled, zeroPoints, scaled);
        Clamp(scaled, qmin, qmax, codes);
    }

    /// <summary>Transposes a row-major [rows, columns] matrix (Gemm's transB weights become [K, N]).</summary>
    public static byte[] Transpose(ReadOnlySpan<byte> matrixBytes, int rows, int columns)
    {
        var result = new byte[matrixBytes.Length];
        Transposition.Transpose(MemoryMarshal.Cast<byte, float>(matrixBytes), rows, columns, MemoryMarshal.Cast<byte, float>(result.AsSpan()));
        return result;
    }

    private static QuantizedWeight ToWeight(QuantParams[] parameters, byte[] codes)
    {
        var scales = new float[parameters.Length];
        var zeroPoints = new int[parameters.Length];
        for (var i = 0; i < parameters.Length; i++)
        {
            scales[i] = parameters[i].Scale;
            zeroPoints[i] = parameters[i].ZeroPoint;
        }

        return new QuantizedWeight(codes, scales, zeroPoints);
    }

    /// <summary>Clamps rounded values to the type's range and stores them as bytes (an s8 code as its two's complement).</summary>
    private static void Clamp(Span<float> rounded, int qmin, int qmax, Span<byte> codes)
    {
        TensorPrimitives.Max(rounded, qmin, rounded);
        TensorPrimitives.Min(rounded, qmax, rounded);
        if (qmin < 0)
        {
            TensorPrimitives.ConvertTruncating<float, sbyte>(rounded, MemoryMarshal.Cast<byte, sbyte>(codes));
        }
        else
        {
            TensorPrimitives.ConvertTruncating<float, byte>(rounded, codes);
        }
    }

    private static T[] Fill<T>(int length, T value)
    {
        var values = new T[length];
        Array.Fill(values, value);
        return values;
    }

    private static void For(int rows, int elements, Action<int> body)
    {
        if (elements >= ParallelThreshold)
        {
            Parallel.For(0, rows, body);
        }
        else
        {
            for (var r = 0; r < rows; r++)
            {
                body(r);
            }
        }
    }

    private static float Min(ReadOnlySpan<float> values) => values.Length == 0 ? 0 : TensorPrimitives.Min(values);

    private static float Max(ReadOnlySpan<float> values) => values.Length == 0 ? 0 : TensorPrimitives.Max(values);
}
