namespace Compression.Core.Quantization.Calibration;

/// <summary>
/// Chooses the threshold T minimizing the expected squared error of quantizing the histogram: values below T
/// suffer rounding noise step^2 / 12 (step = T / steps), values above are clipped to T. Suffix sums make every
/// candidate O(1), so the search is O(bins).
/// </summary>
public sealed class MseCalibrator(int bins, int integerSpan) : HistogramCalibrator(bins, integerSpan)
{
    protected override float Threshold(ReadOnlySpan<long> counts, float width, long total, double steps)
    {
        // Suffix sums of n, n*c and n*c^2 over bin centers c give sum over b >= k of n_b (c_b - T)^2 in O(1).
        var n = 0.0;
        var nc = 0.0;
        var ncc = 0.0;
        var clippedN = new double[counts.Length + 1];
        var clippedNc = new double[counts.Length + 1];
        var clippedNcc = new double[counts.Length + 1];
        for (var i = counts.Length - 1; i >= 0; i--)
        {
            var center = (i + 0.5) * width;
            n += counts[i];
            nc += counts[i] * center;
            ncc += counts[i] * center * center;
            clippedN[i] = n;
            clippedNc[i] = nc;
            clippedNcc[i] = ncc;
        }

        var best = counts.Length;
        var bestError = double.PositiveInfinity;
        for (var edge = 1; edge <= counts.Length; edge++)
        {
            var threshold = (double)edge * width;
            var step = threshold / steps;
            var inside = total - clippedN[edge];
            var error = inside * step * step / 12
                + clippedNcc[edge] - 2 * threshold * clippedNc[edge] + threshold * threshold * clippedN[edge];
            if (error < bestError)
            {
                bestError = error;
                best = edge;
            }
        }

        return best * width;
    }
}
