using System.Numerics.Tensors;

namespace Compression.Core.Quantization.Calibration;

/// <summary>
/// The observed extremes, or with <c>movingAverage</c> the mean of the per-batch extremes (softens one
/// unusual batch, as ONNX Runtime's MinMax calibrator does with its averaging constant).
/// </summary>
public sealed class MinMaxCalibrator(bool movingAverage = false) : ITensorCalibrator
{
    private float min = float.PositiveInfinity;
    private float max = float.NegativeInfinity;
    private double sumMin;
    private double sumMax;
    private long batches;

    public void Collect(ReadOnlySpan<float> values)
    {
        if (values.IsEmpty)
        {
            return;
        }

        var (batchMin, batchMax) = Extremes(values);
        min = MathF.Min(min, batchMin);
        max = MathF.Max(max, batchMax);
        sumMin += batchMin;
        sumMax += batchMax;
        batches++;
    }

    public (float Min, float Max) ComputeRange() => batches == 0
        ? (0, 0)
        : movingAverage ? ((float)(sumMin / batches), (float)(sumMax / batches)) : (min, max);

    /// <summary>Smallest and largest finite value of a span (NaN and infinities are skipped: they have no scale).</summary>
    public static (float Min, float Max) Extremes(ReadOnlySpan<float> values)
    {
        if (values.IsEmpty)
        {
            return (0, 0);
        }

        // The vector kernels propagate NaN and keep infinities; only then is the slow, filtering loop needed.
        var low = TensorPrimitives.Min(values);
        var high = TensorPrimitives.Max(values);
        if (float.IsFinite(low) && float.IsFinite(high))
        {
            return (low, high);
        }

        low = float.PositiveInfinity;
        high = float.NegativeInfinity;
        foreach (var value in values)
        {
            if (float.IsFinite(value))
            {
                low = MathF.Min(low, value);
                high = MathF.Max(high, value);
            }
        }

        return float.IsFinite(low) ? (low, high) : (0, 0);
    }
}
