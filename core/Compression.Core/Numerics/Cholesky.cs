using System.Numerics.Tensors;

namespace Compression.Core.Numerics;

/// <summary>Cholesky factorization L L^T = A of a symmetric positive definite matrix, in double precision.</summary>
internal static class Cholesky
{
    /// <summary>Columns at least this long are eliminated in parallel.</summary>
    private const int ParallelBelow = 64;

    /// <summary>The lower factor of a copy of <paramref name="matrix"/>, which is left as it is; false when it is not positive definite.</summary>
    public static bool TryLower(double[] matrix, int n, out double[] lower)
    {
        lower = (double[])matrix.Clone();
        return TryFactorInPlace(lower, n);
    }

    /// <summary>
    /// Factors the lower triangle of the row-major [n, n] <paramref name="matrix"/> in place, column by column:
    /// L[j, j] = sqrt(A[j, j] - L[j, :j] . L[j, :j]), then every L[i, j] below it, (A[i, j] - L[i, :j] . L[j, :j]) / L[j, j],
    /// independently (in parallel when the column is long: a 4,608-feature Hessian, a 512-channel 3x3 Conv, was a third
    /// of a GPTQ run on one core). The upper triangle is not read. False when A is not positive definite.
    /// </summary>
    public static bool TryFactorInPlace(double[] matrix, int n)
    {
        for (var j = 0; j < n; j++)
        {
            var rowJ = matrix.AsSpan((int)((long)j * n), j + 1);
            var diagonal = rowJ[j] - TensorPrimitives.Dot(rowJ[..j], rowJ[..j]);
            if (!(diagonal > 0))
            {
                return false;
            }

            var pivot = rowJ[j] = Math.Sqrt(diagonal);
            var column = j;
            if (n - j - 1 < ParallelBelow)
            {
                for (var i = j + 1; i < n; i++)
                {
                    Eliminate(matrix, n, i, column, pivot);
                }
            }
            else
            {
                Parallel.For(j + 1, n, i => Eliminate(matrix, n, i, column, pivot));
            }
        }

        return true;
    }

    /// <summary>L^T, row-major: the back substitution of <see cref="Solve"/> then reads contiguous rows.</summary>
    public static double[] Transposed(double[] lower, int n)
    {
        var upper = new double[(long)n * n];
        for (var i = 0; i < n; i++)
        {
            for (var j = 0; j <= i; j++)
            {
                upper[(long)j * n + i] = lower[(long)i * n + j];
            }
        }

        return upper;
    }

    /// <summary>
    /// Solves L L^T x = b in place in <paramref name="x"/> (which holds b): a forward substitution with L, a back
    /// substitution with U = L^T (<see cref="Transposed"/>).
    /// </summary>
    public static void Solve(double[] lower, double[] upper, int n, Span<double> x)
    {
        for (var i = 0; i < n; i++)
        {
            x[i] = (x[i] - TensorPrimitives.Dot(lower.AsSpan((int)((long)i * n), i), x[..i])) / lower[(long)i * n + i];
        }

        SolveUpper(upper, n, x);
    }

    /// <summary>Solves U x = b in place in <paramref name="x"/> (which holds b) for an upper-triangular row-major U: a back substitution.</summary>
    public static void SolveUpper(double[] upper, int n, Span<double> x)
    {
        for (var i = n - 1; i >= 0; i--)
        {
            var tail = n - i - 1;
            x[i] = (x[i] - TensorPrimitives.Dot(upper.AsSpan((int)((long)i * n + i + 1), tail), x.Slice(i + 1, tail))) / upper[(long)i * n + i];
        }
    }

    private static void Eliminate(double[] matrix, int n, int i, int j, double pivot)
    {
        var rowI = matrix.AsSpan((int)((long)i * n), j + 1);
        rowI[j] = (rowI[j] - TensorPrimitives.Dot(rowI[..j], matrix.AsSpan((int)((long)j * n), j))) / pivot;
    }
}
