namespace Compression.Core.Quantization.Calibration;

/// <summary>
/// Base of the calibrators that choose a clipping threshold T on |x| from a histogram: the range is the observed
/// [min, max] clipped to [-T, T], so a ReLU output keeps its zero floor.
/// </summary>
public abstract class HistogramCalibrator : ITensorCalibrator
{
    private readonly AbsoluteHistogram histogram;
    private float min = float.PositiveInfinity;
    private float max = float.NegativeInfinity;

    /// <param name="bins">Histogram bins.</param>
    /// <param name="integerSpan">qmax - qmin of the type the tensor is quantized to (255 for 8 bits).</param>
    protected HistogramCalibrator(int bins, int integerSpan)
    {
        histogram = new AbsoluteHistogram(bins);
        IntegerSpan = integerSpan;
    }

    protected int IntegerSpan { get; }

    public void Collect(ReadOnlySpan<float> values)
    {
        if (values.IsEmpty)
        {
            return;
        }

        var (batchMin, batchMax) = MinMaxCalibrator.Extremes(values);
        min = MathF.Min(min, batchMin);
        max = MathF.Max(max, batchMax);
        histogram.Add(values);
    }

    public (float Min, float Max) ComputeRange()
    {
        if (histogram.Total == 0 || histogram.Limit == 0)
        {
            return histogram.Total == 0 ? (0, 0) : (min, max);
        }

        // A one-sided tensor spends every integer step on [0, T]; a two-sided one spends half on each side.
        var steps = min >= 0 ? IntegerSpan : IntegerSpan / 2.0;
        var threshold = MathF.Min(histogram.Limit, Threshold(histogram.Counts, histogram.BinWidth, histogram.Total, steps));
        return (MathF.Max(min, -threshold), MathF.Min(max, threshold));
    }

    /// <summary>The clipping threshold on |x|.</summary>
    /// <param name="counts">The histogram of |x|: bin i covers [i * width, (i + 1) * width).</param>
    /// <param name="width">The width of one bin.</param>
    /// <param name="total">The sum of the counts.</param>
    /// <param name="steps">Integer steps available between 0 and the threshold.</param>
    protected abstract float Threshold(ReadOnlySpan<long> counts, float width, long total, double steps);
}
