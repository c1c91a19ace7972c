namespace Compression.Core.Quantization.Calibration;

/// <summary>
/// A histogram of |x| over [0, Limit] with a fixed number of bins, built batch by batch. When a batch holds a
/// larger value, the range grows by a power of two and neighbouring bins merge exactly (2, 4, ... into one), so
/// memory stays O(bins) whatever the data and no count is ever spread by guesswork.
/// </summary>
public sealed class AbsoluteHistogram
{
    private readonly long[] counts;

    public AbsoluteHistogram(int bins)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bins, 2);
        counts = new long[bins];
    }

    /// <summary>The upper edge of the last bin; 0 until a non-zero value is seen.</summary>
    public float Limit { get; private set; }

    public int Bins => counts.Length;

    public ReadOnlySpan<long> Counts => counts;

    public long Total { get; private set; }

    public float BinWidth => Limit / counts.Length;

    public void Add(ReadOnlySpan<float> values)
    {
        var (low, high) = MinMaxCalibrator.Extremes(values);
        var batchLimit = MathF.Max(MathF.Abs(low), MathF.Abs(high));

        Widen(batchLimit);
        if (Limit == 0)
        {
            // Every value is zero (or not finite): all of them go in the first bin.
            counts[0] += CountFinite(values);
            Total += CountFinite(values);
            return;
        }

        var perUnit = counts.Length / Limit;
        var last = counts.Length - 1;
        foreach (var value in values)
        {
            if (float.IsFinite(value))
            {
                counts[Math.Min(last, (int)(MathF.Abs(value) * perUnit))]++;
                Total++;
            }
        }
    }

    private void Widen(float needed)
    {
        if (needed <= Limit)
        {
            return;
        }

        if (Limit == 0)
        {
            // Zeros seen so far stay in bin 0 whatever the new range.
            Limit = needed;
            return;
        }

        var factor = 1;
        while (Limit * factor < needed)
        {
            factor *= 2;
        }

        if (factor >= counts.Length)
        {
            var all = 0L;
            foreach (var count in counts)
            {
                all += count;
            }

            Array.Clear(counts);
            counts[0] = all;
        }
        else
        {
            // The last group may be partial when the bin count is not a multiple of the factor.
            var merged = (counts.Length + factor - 1) / factor;
            for (var i = 0; i < merged; i++)
            {
                var sum = 0L;
                var end = Math.Min(counts.Length, (i + 1) * factor);
                for (var j = i * factor; j < end; j++)
                {
                    sum += counts[j];
                }

                counts[i] = sum;
            }

            Array.Clear(counts, merged, counts.Length - merged);
        }

        Limit *= factor;
    }

    private static long CountFinite(ReadOnlySpan<float> values)
    {
        var count = 0L;
        foreach (var value in values)
        {
            if (float.IsFinite(value))
            {
                count++;
            }
        }

        return count;
    }
}
