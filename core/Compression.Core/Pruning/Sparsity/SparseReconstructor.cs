using Compression.Core.Numerics;

namespace Compression.Core.Pruning.Sparsity;

/// <summary>
/// SparseGPT (Frantar and Alistarh, 2023): zeroes weights one input feature at a time and spreads each removed
/// weight's contribution over the features not yet visited, weighted by the inverse Hessian of the layer's inputs
/// (the OBS update), so the layer's output on the calibration data moves as little as possible. Which weights go is
/// either fixed beforehand (a mask from a criterion) or chosen as the sweep reaches them from the updated weights
/// by w^2 / U_jj^2: per block of 128 features for unstructured sparsity, per group of M for N:M. Rows (output
/// features) are independent given the Hessian and run in parallel.
/// </summary>
internal static class SparseReconstructor
{
    private const int AdaptiveBlock = 128;

    /// <summary>Prunes the weights the mask marks, updating the rest in place; dead features are zeroed too.</summary>
    public static void WithMask(float[] rows, int rowCount, LayerStatistics statistics, bool[] mask, CancellationToken cancellation) =>
        Sweep(rows, rowCount, statistics, cancellation, (row, r, i, pruned) =>
        {
            if (i == 0)
            {
                mask.AsSpan(r * statistics.Size, statistics.Size).CopyTo(pruned);
            }
        });

    /// <summary>Unstructured, choosing as it goes: in each block of 128 features, the given fraction with the lowest w^2 / U_jj^2.</summary>
    public static void Adaptive(float[] rows, int rowCount, LayerStatistics statistics, double sparsity, CancellationToken cancellation)
    {
        var upper = statistics.UpperFactor();
        var length = statistics.Size;
        Sweep(rows, rowCount, statistics, cancellation, (row, _, i, pruned) =>
        {
            if (i % AdaptiveBlock == 0)
            {
                var block = Math.Min(AdaptiveBlock, length - i);
                Choose(row, upper, length, i, block, (int)Math.Round(sparsity * block, MidpointRounding.AwayFromZero), pruned);
            }
        });
    }

    /// <summary>N:M, choosing as it goes: at the start of each group of M, the M - N with the lowest w^2 / U_jj^2.</summary>
    public static void Adaptive(float[] rows, int rowCount, LayerStatistics statistics, NmPattern pattern, CancellationToken cancellation)
    {
        var upper = statistics.UpperFactor();
        Sweep(rows, rowCount, statistics, cancellation, (row, _, i, pruned) =>
        {
            if (i % pattern.Group == 0)
            {
                Choose(row, upper, statistics.Size, i, pattern.Group, pattern.Group - pattern.Kept, pruned);
            }
        });
    }

    /// <summary>Marks, among features [start, start + count) of the row, the <paramref name="prune"/> with the lowest OBS saliency.</summary>
    private static void Choose(Span<float> row, float[] upper, int length, int start, int count, int prune, Span<bool> pruned)
    {
        Span<float> scores = stackalloc float[count];
        for (var j = 0; j < count; j++)
        {
            var d = upper[(start + j) * length + start + j];
            scores[j] = row[start + j] * row[start + j] / (d * d);
        }

        PruneMasks.Lowest(scores, prune, pruned.Slice(start, count));
    }

    /// <summary>A row's view while it is swept: the row, its index, the feature reached, and its mask to fill.</summary>
    private delegate void MaskStep(Span<float> row, int rowIndex, int feature, Span<bool> pruned);

    private static void Sweep(float[] rows, int rowCount, LayerStatistics statistics, CancellationToken cancellation, MaskStep step)
    {
        var length = statistics.Size;
        var upper = statistics.UpperFactor();
        var dead = new bool[length];
        for (var j = 0; j < length; j++)
        {
            dead[j] = statistics.IsDead(j);
        }

        Parallel.For(0, rowCount, new ParallelOptions { CancellationToken = cancellation }, () => new bool[length], (r, _, pruned) =>
        {
            Array.Clear(pruned);
            var row = rows.AsSpan(r * length, length);
            for (var j = 0; j < length; j++)
            {
                row[j] = dead[j] ? 0 : row[j];
            }

            for (var i = 0; i < length; i++)
            {
                step(row, r, i, pruned);
                if (!pruned[i] || row[i] == 0)
                {
                    continue;
                }

                var residual = row[i];
                row[i] = 0;
                InverseCholesky.Compensate(row, i, residual, upper, length);
            }

            return pruned;
        }, _ => { });
    }
}
