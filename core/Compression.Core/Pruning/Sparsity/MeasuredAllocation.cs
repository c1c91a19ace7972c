namespace Compression.Core.Pruning.Sparsity;

/// <summary>
/// Each layer's share of a global sparsity target from its measured cost: every layer is pruned (and refit) alone at
/// a few sparsities, its relative output error on the calibration data taken at each, and the zeros go where they
/// cost least per weight, following each layer's lower convex hull of (zeros, error) until the target is met; the
/// last segment taken is cut to the exact sparsity. Small, sensitive layers (a 3x3 depthwise kernel, a 1x1 Conv on a
/// few channels, a classifier on correlated features) thus give up less than large, redundant ones. The summed
/// relative error is what it minimizes: per-weight estimates (OBS saliencies) miss that correlated inputs can
/// compensate one removed weight but not half of them, and sent classifier heads to 95 % on the export corpus.
/// </summary>
internal static class MeasuredAllocation
{
    /// <summary>The sparsities each layer is measured at (within min_ratio and max_ratio), besides its least.</summary>
    private static readonly double[] Levels = [0.2, 0.35, 0.5, 0.65, 0.8, 0.9];

    /// <summary>Each target's sparsity; <paramref name="errorAt"/> gives the relative output error of layer i pruned alone to a sparsity, and pinned layers keep theirs.</summary>
    public static double[] Allocate(IReadOnlyList<PruneTarget> targets, PruneOptions options, IReadOnlyList<double?> pinned, Func<int, double, double> errorAt,
        CancellationToken cancellation)
    {
        var sparsities = new double[targets.Count];
        double total = 0, zeros = 0;
        var segments = new List<(double Slope, int Layer, double From, double To)>();
        for (var i = 0; i < targets.Count; i++)
        {
            total += targets[i].Weight.Count;
            if (pinned[i] is { } fixedSparsity)
            {
                sparsities[i] = fixedSparsity;
                zeros += fixedSparsity * targets[i].Weight.Count;
                continue;
            }

            sparsities[i] = options.MinRatio;
            zeros += options.MinRatio * targets[i].Weight.Count;
            var points = new List<(double Sparsity, double Error)> { (options.MinRatio, options.MinRatio > 0 ? errorAt(i, options.MinRatio) : 0) };
            foreach (var level in Levels)
            {
                cancellation.ThrowIfCancellationRequested();
                if (level > options.MinRatio && level < options.LayerCeiling)
                {
                    points.Add((level, errorAt(i, level)));
                }
            }

            if (options.LayerCeiling > options.MinRatio)
            {
                points.Add((options.LayerCeiling, errorAt(i, options.LayerCeiling)));
            }

            foreach (var (from, to) in LowerHull(points))
            {
                segments.Add(((to.Error - from.Error) / ((to.Sparsity - from.Sparsity) * targets[i].Weight.Count), i, from.Sparsity, to.Sparsity));
            }
        }

        // Hull segments of one layer have rising slopes, so taking them cheapest first keeps each layer's in order.
        var goal = options.Sparsity * total;
        foreach (var (_, layer, from, to) in segments.OrderBy(s => s.Slope).ThenBy(s => s.Layer))
        {
            if (zeros >= goal)
            {
                break;
            }

            var count = targets[layer].Weight.Count;
            var step = Math.Min(to - from, (goal - zeros) / count);
            sparsities[layer] = from + step;
            zeros += step * count;
        }

        return sparsities;
    }

    /// <summary>The segments of the lower convex hull of points sorted by sparsity (Andrew's monotone chain).</summary>
    private static List<((double Sparsity, double Error) From, (double Sparsity, double Error) To)> LowerHull(List<(double Sparsity, double Error)> points)
    {
        var hull = new List<(double Sparsity, double Error)>();
        foreach (var point in points)
        {
            while (hull.Count >= 2 && Cross(hull[^2], hull[^1], point) <= 0)
            {
                hull.RemoveAt(hull.Count - 1);
            }

            hull.Add(point);
        }

        var segments = new List<((double, double), (double, double))>();
        for (var k = 1; k < hull.Count; k++)
        {
            segments.Add((hull[k - 1], hull[k]));
        }

        return segments;
    }

    private static double Cross((double X, double Y) o, (double X, double Y) a, (double X, double Y) b) =>
        (a.X - o.X) * (b.Y - o.Y) - (a.Y - o.Y) * (b.X - o.X);
}
