using Compression.Core.Diagnostics;

namespace Compression.Core.Numerics;

/// <summary>A factorization of a symmetric matrix; false when it is not positive definite.</summary>
internal delegate bool TryFactor<T>(double[] matrix, int n, out T factor);

/// <summary>
/// Damping of a calibration statistic (a Hessian, an input's second moment) before it is factored: features that never
/// vary make it singular. A zero on the diagonal (a feature that is always 0) becomes 1 first; then the relative
/// damping times the mean diagonal is added, again and again (up to eleven times), until the matrix factors.
/// </summary>
internal static class DiagonalDamping
{
    private const int MaxAttempts = 11;

    /// <summary>Factors <paramref name="matrix"/> (row-major [n, n], damped in place); <paramref name="what"/> names it in the error.</summary>
    public static T Factor<T>(double[] matrix, int n, double relativeDamping, string what, TryFactor<T> tryFactor)
    {
        var meanDiagonal = 0.0;
        for (var i = 0; i < n; i++)
        {
            if (matrix[i * n + i] == 0)
            {
                matrix[i * n + i] = 1;
            }

            meanDiagonal += matrix[i * n + i] / n;
        }

        var damping = relativeDamping * meanDiagonal;
        for (var attempt = 0; attempt < MaxAttempts; attempt++)
        {
            for (var i = 0; i < n; i++)
            {
                matrix[i * n + i] += damping;
            }

            if (tryFactor(matrix, n, out var factor))
            {
                return factor;
            }
        }

        throw new CompressionException(Diagnostic.Error(ErrorCodes.HessianSingular,
            $"The calibration data's {what} of a {n}-feature layer is not positive definite even with {MaxAttempts} times {relativeDamping:P0} of its mean diagonal added: give more or more varied calibration samples."));
    }
}
