namespace Compression.Core.Pruning.Sparsity;

/// <summary>Which weights go, from their scores: the lowest ones, exactly as many as asked, ties broken by position.</summary>
internal static class PruneMasks
{
    /// <summary>Marks the <paramref name="count"/> lowest scores of the span in <paramref name="pruned"/>.</summary>
    public static void Lowest(ReadOnlySpan<float> scores, int count, Span<bool> pruned)
    {
        if (count <= 0)
        {
            return;
        }

        if (count >= scores.Length)
        {
            pruned.Fill(true);
            return;
        }

        var sorted = scores.ToArray();
        Array.Sort(sorted);
        var threshold = sorted[count - 1];
        var below = 0;
        for (var i = 0; i < scores.Length; i++)
        {
            if (scores[i] < threshold)
            {
                pruned[i] = true;
                below++;
            }
        }

        for (var i = 0; i < scores.Length && below < count; i++)
        {
            if (scores[i] == threshold)
            {
                pruned[i] = true;
                below++;
            }
        }
    }

    /// <summary>Unstructured: a fraction of the whole weight, or of each row when the criterion compares within rows.</summary>
    public static bool[] Unstructured(float[] scores, int rows, int length, double sparsity, bool perRow)
    {
        var pruned = new bool[scores.Length];
        if (perRow)
        {
            var count = (int)Math.Round(sparsity * length, MidpointRounding.AwayFromZero);
            Parallel.For(0, rows, r => Lowest(scores.AsSpan(r * length, length), count, pruned.AsSpan(r * length, length)));
        }
        else
        {
            Lowest(scores, (int)Math.Round(sparsity * scores.Length, MidpointRounding.AwayFromZero), pruned);
        }

        return pruned;
    }

    /// <summary>N:M: in each group of M consecutive weights along a row, the M - N lowest.</summary>
    public static bool[] SemiStructured(float[] scores, NmPattern pattern)
    {
        var pruned = new bool[scores.Length];
        var count = pattern.Group - pattern.Kept;
        for (var start = 0; start < scores.Length; start += pattern.Group)
        {
            Lowest(scores.AsSpan(start, pattern.Group), count, pruned.AsSpan(start, pattern.Group));
        }

        return pruned;
    }
}
