namespace Compression.Core.Quantization.Calibration;

/// <summary>
/// TensorRT's entropy calibration: for each candidate threshold (bin edge) the histogram below it, with the
/// clipped tail folded into its last bin, is compared with its quantized version (merged into as many bins as
/// there are integer steps, spread back over the bins that were non-zero); the threshold with the least KL
/// divergence wins. Candidates start at as many bins as levels (below that the normalized KL cannot see the
/// clipping), so the smallest threshold is levels x bin width. O(bins^2) per tensor, once, after collection.
/// </summary>
public sealed class EntropyCalibrator(int bins, int integerSpan) : HistogramCalibrator(bins, integerSpan)
{
    protected override float Threshold(ReadOnlySpan<long> counts, float width, long total, double steps)
    {
        var levels = (int)Math.Ceiling(steps);
        if (levels >= counts.Length)
        {
            return counts.Length * width;
        }

        var reference = new double[counts.Length];
        var candidate = new double[counts.Length];
        var tail = new long[counts.Length + 1];
        for (var i = counts.Length - 1; i >= 0; i--)
        {
            tail[i] = tail[i + 1] + counts[i];
        }

        // Coarse then fine: every stride-th edge, then every edge around the best coarse one; 1/stride of the work
        // of trying them all, and the divergence is smooth enough in the edge for the best to lie near a coarse best.
        var stride = Math.Max(1, (counts.Length - levels) / 256);
        var coarse = Search(counts, levels, levels, counts.Length, stride, reference, candidate, tail);
        return Search(counts, levels, Math.Max(levels, coarse - stride), Math.Min(counts.Length, coarse + stride), 1, reference, candidate, tail) * width;
    }

    private static int Search(ReadOnlySpan<long> counts, int levels, int first, int last, int stride, double[] reference, double[] candidate, long[] tail)
    {
        var best = last;
        var bestDivergence = double.PositiveInfinity;
        for (var edge = first; edge <= last; edge += stride)
        {
            for (var i = 0; i < edge; i++)
            {
                reference[i] = counts[i];
            }

            reference[edge - 1] += tail[edge];
            Quantized(counts[..edge], levels, candidate);
            var divergence = Divergence(reference.AsSpan(0, edge), candidate.AsSpan(0, edge));
            if (divergence < bestDivergence)
            {
                bestDivergence = divergence;
                best = edge;
            }
        }

        return best;
    }

    /// <summary>Merges the bins into <paramref name="levels"/> groups and spreads each group's count evenly over its non-empty bins.</summary>
    private static void Quantized(ReadOnlySpan<long> counts, int levels, Span<double> output)
    {
        for (var level = 0; level < levels; level++)
        {
            var start = (int)((long)level * counts.Length / levels);
            var end = (int)((long)(level + 1) * counts.Length / levels);
            var sum = 0L;
            var nonEmpty = 0;
            for (var i = start; i < end; i++)
            {
                sum += counts[i];
                nonEmpty += counts[i] > 0 ? 1 : 0;
            }

            var share = nonEmpty == 0 ? 0 : (double)sum / nonEmpty;
            for (var i = start; i < end; i++)
            {
                output[i] = counts[i] > 0 ? share : 0;
            }
        }
    }

    /// <summary>KL(P || Q) of the normalized histograms; bins where P has mass and Q none count as a large penalty.</summary>
    private static double Divergence(ReadOnlySpan<double> p, ReadOnlySpan<double> q)
    {
        double sumP = 0, sumQ = 0;
        for (var i = 0; i < p.Length; i++)
        {
            sumP += p[i];
            sumQ += q[i];
        }

        if (sumP == 0 || sumQ == 0)
        {
            return double.PositiveInfinity;
        }

        var divergence = 0.0;
        for (var i = 0; i < p.Length; i++)
        {
            if (p[i] == 0)
            {
                continue;
            }

            var pi = p[i] / sumP;
            var qi = q[i] / sumQ;
            // The clipped tail lands in a bin Q may leave empty: smooth it as TensorRT does rather than divide by zero.
            divergence += pi * Math.Log(pi / Math.Max(qi, 1e-12));
        }

        return divergence;
    }
}
