namespace Compression.Core.Pruning.Sparsity;

/// <summary>
/// Global scope: one score threshold over all layers' weights decides each layer's sparsity, so layers whose weights
/// matter less give up more, each clamped to [min_ratio, max_ratio], with the total at the target sparsity. Layers
/// whose sparsity a <c>layers</c> entry pins keep it exactly; the others share out what the target still asks for.
/// Used without calibration data (magnitude scores); with it, <see cref="MeasuredAllocation"/> decides.
/// </summary>
internal static class SparsityAllocation
{
    public static double[] Global(List<PruneTarget> targets, List<float[]> rows, Dictionary<PruneTarget, LayerStatistics> statistics, PruneOptions options,
        IReadOnlyList<double?> pinned)
    {
        var sorted = new float[targets.Count][];
        long total = 0;
        var pinnedZeros = 0.0;
        var highest = 0f;
        for (var i = 0; i < targets.Count; i++)
        {
            if (pinned[i] is { } fixedSparsity)
            {
                total += rows[i].Length;
                pinnedZeros += fixedSparsity * rows[i].Length;
                sorted[i] = [];
                continue;
            }

            var layer = statistics.GetValueOrDefault(targets[i]);
            sorted[i] = WeightScores.Score(rows[i], targets[i].Weight.RowLength, layer is null ? ImportanceCriterion.L1 : options.Criterion, layer);
            Array.Sort(sorted[i]);
            total += sorted[i].Length;
            highest = Math.Max(highest, sorted[i][^1]);
        }

        // The pruned total grows with the threshold: bisect for the threshold that prunes the target fraction.
        var goal = options.Sparsity * total - pinnedZeros;
        double low = 0, high = highest + 1;
        for (var iteration = 0; iteration < 64; iteration++)
        {
            var middle = (low + high) / 2;
            if (Pruned(sorted, middle, options) < goal)
            {
                low = middle;
            }
            else
            {
                high = middle;
            }
        }

        return sorted.Select((s, i) => pinned[i] ?? Ratio(s, high, options)).ToArray();
    }

    private static double Pruned(float[][] sorted, double threshold, PruneOptions options)
    {
        var pruned = 0.0;
        foreach (var scores in sorted)
        {
            pruned += scores.Length == 0 ? 0 : Ratio(scores, threshold, options) * scores.Length;
        }

        return pruned;
    }

    /// <summary>The fraction of the layer's scores below the threshold, within the ratio bounds.</summary>
    private static double Ratio(float[] sorted, double threshold, PruneOptions options)
    {
        int low = 0, high = sorted.Length;
        while (low < high)
        {
            var middle = (low + high) / 2;
            if (sorted[middle] < threshold)
            {
                low = middle + 1;
            }
            else
            {
                high = middle;
            }
        }

        return Math.Clamp((double)low / sorted.Length, options.MinRatio, options.LayerCeiling);
    }
}
