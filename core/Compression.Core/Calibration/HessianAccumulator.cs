using System.Numerics.Tensors;

namespace Compression.Core.Calibration;

/// <summary>
/// Sums X^T X of one layer input over calibration batches, in double, one batch of rows at a time: GPTQ's and
/// SparseGPT's H = 2 X^T X / rows without ever holding all activations. Only the lower triangle is summed. The
/// feature sums are kept too, for the mean input that bias correction needs.
/// </summary>
internal sealed class HessianAccumulator(int size)
{
    private readonly double[] sums = new double[(long)size * size];
    private readonly double[] featureSums = new double[size];

    public int Size => size;

    public long Rows { get; private set; }

    /// <summary>Adds the rows of a [rows, size] activation whose <paramref name="keep"/> flag is set (all when empty).</summary>
    public void Add(ReadOnlySpan<float> activations, ReadOnlySpan<bool> keep)
    {
        var rowCount = activations.Length / size;
        var kept = 0;
        for (var r = 0; r < rowCount; r++)
        {
            kept += keep.IsEmpty || keep[r] ? 1 : 0;
        }

        if (kept == 0)
        {
            return;
        }

        // Transposed so each feature's values are contiguous: every entry of H is then one vectorized dot product.
        var columns = new float[(long)size * kept];
        var column = 0;
        for (var r = 0; r < rowCount; r++)
        {
            if (!keep.IsEmpty && !keep[r])
            {
                continue;
            }

            var row = activations.Slice(r * size, size);
            for (var i = 0; i < size; i++)
            {
                columns[(long)i * kept + column] = row[i];
            }

            column++;
        }

        Parallel.For(0, size, i =>
        {
            var xi = columns.AsSpan(i * kept, kept);
            var target = sums.AsSpan(i * size, i + 1);
            for (var j = 0; j <= i; j++)
            {
                target[j] += TensorPrimitives.Dot(xi, columns.AsSpan(j * kept, kept));
            }

            featureSums[i] += TensorPrimitives.Sum(xi);
        });
        Rows += kept;
    }

    /// <summary>The full symmetric H = 2 X^T X / rows.</summary>
    public double[] Hessian()
    {
        var hessian = new double[(long)size * size];
        var factor = Rows == 0 ? 0 : 2.0 / Rows;
        for (var i = 0; i < size; i++)
        {
            for (var j = 0; j <= i; j++)
            {
                var value = sums[i * size + j] * factor;
                hessian[i * size + j] = value;
                hessian[j * size + i] = value;
            }
        }

        return hessian;
    }

    /// <summary>The mean of each feature over the rows seen.</summary>
    public double[] Mean()
    {
        var mean = new double[size];
        for (var i = 0; i < size; i++)
        {
            mean[i] = Rows == 0 ? 0 : featureSums[i] / Rows;
        }

        return mean;
    }
}
