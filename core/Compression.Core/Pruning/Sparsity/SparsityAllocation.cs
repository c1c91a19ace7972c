namespace Compression.Core.Pruning.Sparsity;

/// <summary>
/// Global scope: one score threshold over all layers' weights decides each layer's sparsity, so layers whose weights
/// matter less give up more, each clamped to [min_ratio, max_ratio], with the total at the target sparsity. Layers
/// whose sparsity a <c>layers</c> entry pins keep it exactly; the others share out what the target still asks for.
/// With calibration statistics the scores are each weight's share of its layer's output error
/// (<see cref="WeightScores.ToRelativeErrors"/>): the layers' error curves are convex (weights go cheapest first), so
/// the common threshold is the allocation with the least summed relative error, the Lagrangian optimum. Raw scores
/// would not compare: a layer with large activations would keep every weight.
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
            var criterion = layer is null ? ImportanceCriterion.L1 : options.Criterion;
            sorted[i] = WeightScores.Score(rows[i], targets[i].Length, criterion, layer);
            if (statistics.Count > 0)
            {
                WeightScores.ToRelativeErrors(sorted[i], rows[i], targets[i].Rows, criterion, layer);
            }

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

        return Math.Clamp((double)low / sorted.Length, options.MinRatio, options.MaxRatio);
    }
}
