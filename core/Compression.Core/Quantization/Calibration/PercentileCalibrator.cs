namespace Compression.Core.Quantization.Calibration;

/// <summary>Clips |x| at a percentile of its distribution (99.999 keeps all but one value in 100,000).</summary>
public sealed class PercentileCalibrator(double percentile, int bins, int integerSpan) : HistogramCalibrator(bins, integerSpan)
{
    protected override float Threshold(ReadOnlySpan<long> counts, float width, long total, double steps)
    {
        var wanted = percentile / 100 * total;
        var cumulative = 0L;
        for (var i = 0; i < counts.Length; i++)
        {
            cumulative += counts[i];
            if (cumulative >= wanted)
            {
                return (i + 1) * width;
            }
        }

        return counts.Length * width;
    }
}
