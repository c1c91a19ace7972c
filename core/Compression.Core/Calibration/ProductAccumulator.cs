using System.Numerics.Tensors;

namespace Compression.Core.Calibration;

/// <summary>Sums Xᵀ Y of two row-aligned activations ([rows, left] and [rows, right]) in double, a batch of rows at a time.</summary>
internal sealed class ProductAccumulator(int left, int right)
{
    private readonly double[] sums = new double[(long)left * right];
    private long rows;

    public void Add(ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<bool> keep)
    {
        var count = x.Length / left;
        var xColumns = Columns(x, left, count, keep, out var kept);
        var yColumns = Columns(y, right, count, keep, out _);
        if (kept == 0)
        {
            return;
        }

        // Each feature's values contiguous: every entry is one vectorized dot product.
        Parallel.For(0, left, i =>
        {
            var xi = xColumns.AsSpan(i * kept, kept);
            var target = sums.AsSpan(i * right, right);
            for (var j = 0; j < right; j++)
            {
                target[j] += TensorPrimitives.Dot(xi, yColumns.AsSpan(j * kept, kept));
            }
        });
        rows += kept;
    }

    /// <summary>E[x yᵀ] as a row-major [left, right].</summary>
    public double[] Mean() => rows == 0 ? sums : sums.Select(v => v / rows).ToArray();

    private static float[] Columns(ReadOnlySpan<float> values, int width, int count, ReadOnlySpan<bool> keep, out int kept)
    {
        kept = 0;
        for (var r = 0; r < count; r++)
        {
            kept += keep.IsEmpty || keep[r] ? 1 : 0;
        }

        var columns = new float[(long)width * kept];
        var column = 0;
        for (var r = 0; r < count; r++)
        {
            if (!keep.IsEmpty && !keep[r])
            {
                continue;
            }

            var row = values.Slice(r * width, width);
            for (var i = 0; i < width; i++)
            {
                columns[(long)i * kept + column] = row[i];
            }

            column++;
        }

        return columns;
    }
}
