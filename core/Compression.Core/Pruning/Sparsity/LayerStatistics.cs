using System.Numerics.Tensors;
using Compression.Core.Calibration;
using Compression.Core.Numerics;

namespace Compression.Core.Pruning.Sparsity;

/// <summary>
/// What calibration says about one layer's input: the Hessian H = 2 X^T X / rows of its K features (from
/// <see cref="HessianAccumulator"/>), the mean of each feature, and, made once on demand, the upper Cholesky
/// factor U of the damped inverse (H + damping)^-1 = U^T U that SparseGPT walks.
/// </summary>
internal sealed class LayerStatistics(double[] hessian, double[] mean, int size)
{
    private float[]? upper;

    public double[] Hessian => hessian;

    public double[] Mean => mean;

    public int Size => size;

    /// <summary>Whether a feature never fired on the calibration data: its weights change nothing and are zeroed.</summary>
    public bool IsDead(int feature) => hessian[(long)feature * size + feature] == 0;

    /// <summary>U with (H + damping)^-1 = U^T U; dead features get a unit diagonal, as SparseGPT does.</summary>
    public float[] UpperFactor()
    {
        return upper ??= InverseCholesky.DampedUpperFactorOfInverse((double[])hessian.Clone(), size);
    }

    /// <summary>The diagonal of (H + damping)^-1 = U^T U: column sums of U squared.</summary>
    public double[] InverseDiagonal()
    {
        var factor = UpperFactor();
        var diagonal = new double[size];
        for (var i = 0; i < size; i++)
        {
            for (var j = i; j < size; j++)
            {
                var u = (double)factor[i * size + j];
                diagonal[j] += u * u;
            }
        }

        return diagonal;
    }

    /// <summary>The output shift of each row, mean(x) . (before - after): what bias correction adds back.</summary>
    public float[] MeanShift(float[] before, float[] after, int rows)
    {
        var shift = new float[rows];
        for (var r = 0; r < rows; r++)
        {
            var sum = 0.0;
            for (var j = 0; j < size; j++)
            {
                sum += mean[j] * (before[r * size + j] - after[r * size + j]);
            }

            shift[r] = (float)sum;
        }

        return shift;
    }

    /// <summary>
    /// The layer's relative output error on the calibration data, E||x (W - W')||^2 / E||x W||^2, from the undamped
    /// Hessian; with a bias shift c applied, the squared mean c^2 of each row's error is taken off.
    /// </summary>
    public double RelativeError(float[] before, float[] after, int rows, float[]? biasShift)
    {
        var h = new float[hessian.Length];
        for (var i = 0; i < h.Length; i++)
        {
            h[i] = (float)hessian[i];
        }

        var errors = new double[rows];
        var signals = new double[rows];
        Parallel.For(0, rows, () => (new float[size], new float[size]), (r, _, buffers) =>
        {
            var (delta, product) = buffers;
            var row = before.AsSpan(r * size, size);
            TensorPrimitives.Subtract(row, after.AsSpan(r * size, size), delta);
            errors[r] = Quadratic(h, delta, product);
            signals[r] = Quadratic(h, row, product);
            if (biasShift is not null)
            {
                errors[r] = Math.Max(0, errors[r] - 2.0 * biasShift[r] * biasShift[r]);
            }

            return buffers;
        }, _ => { });

        double error = 0, signal = 0;
        for (var r = 0; r < rows; r++)
        {
            error += errors[r];
            signal += signals[r];
        }

        return signal == 0 ? 0 : error / signal;
    }

    /// <summary>v^T H v with H [size, size] row-major.</summary>
    private double Quadratic(float[] h, ReadOnlySpan<float> v, Span<float> product)
    {
        for (var i = 0; i < size; i++)
        {
            product[i] = TensorPrimitives.Dot(h.AsSpan(i * size, size), v);
        }

        return TensorPrimitives.Dot(product, v);
    }
}
