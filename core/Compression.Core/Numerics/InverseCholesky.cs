using System.Numerics.Tensors;

namespace Compression.Core.Numerics;

/// <summary>
/// The upper Cholesky factor U of the inverse of a symmetric positive definite H (H^-1 = U^T U), which GPTQ
/// walks row by row. With J the order reversal, U = J L^-1 J where L L^T = J H J: one Cholesky and one triangular
/// inverse, instead of an inverse and a second Cholesky. Double precision, span kernels.
/// </summary>
internal static class InverseCholesky
{
    /// <summary>
    /// The OBS update GPTQ and SparseGPT share: the residual a feature leaves when it is rounded or removed, scaled
    /// by U_ii, is spread over the features after it along row i of U, so the layer's output moves least.
    /// </summary>
    public static void Compensate(Span<float> row, int feature, float residual, ReadOnlySpan<float> upper, int n)
    {
        var error = residual / upper[feature * n + feature];
        if (feature + 1 < n)
        {
            var rest = row[(feature + 1)..];
            TensorPrimitives.MultiplyAdd(upper.Slice(feature * n + feature + 1, n - feature - 1), -error, rest, rest);
        }
    }

    /// <summary>Relative damping GPTQ and SparseGPT add to the Hessian's diagonal: 1 % of its mean.</summary>
    public const double Damping = 0.01;

    /// <summary>
    /// U of H + d I, with d = <paramref name="relativeDamping"/> times the mean of H's diagonal, added again (up to
    /// ten times) while the sum is not positive definite: features that never vary make H singular. A zero on H's
    /// diagonal (a feature that is always 0) becomes 1 first. H is changed in place.
    /// </summary>
    public static float[] DampedUpperFactorOfInverse(double[] hessian, int n, double relativeDamping = Damping) =>
        DiagonalDamping.Factor(hessian, n, relativeDamping, "Hessian", (double[] matrix, int size, out float[] upper) => TryUpperFactorOfInverse(matrix, size, out upper));

    /// <summary>U as a row-major float [n, n]; false when H is not positive definite.</summary>
    public static bool TryUpperFactorOfInverse(ReadOnlySpan<double> hessian, int n, out float[] upper)
    {
        upper = [];
        var lower = new double[(long)n * n];
        for (var i = 0; i < n; i++)
        {
            for (var j = 0; j <= i; j++)
            {
                lower[i * n + j] = hessian[(n - 1 - i) * n + (n - 1 - j)];
            }
        }

        if (!Cholesky.TryFactorInPlace(lower, n))
        {
            return false;
        }

        // Row k of inverseTransposed holds column k of L^-1 (entries k..n-1): both spans of each dot are contiguous.
        var inverseTransposed = new double[(long)n * n];
        Parallel.For(0, n, k =>
        {
            var y = inverseTransposed.AsSpan(k * n, n);
            y[k] = 1 / lower[k * n + k];
            for (var i = k + 1; i < n; i++)
            {
                y[i] = -TensorPrimitives.Dot(lower.AsSpan(i * n + k, i - k), y.Slice(k, i - k)) / lower[i * n + i];
            }
        });

        var result = new float[(long)n * n];
        for (var a = 0; a < n; a++)
        {
            for (var b = a; b < n; b++)
            {
                result[a * n + b] = (float)inverseTransposed[(n - 1 - b) * n + (n - 1 - a)];
            }
        }

        upper = result;
        return true;
    }
}
