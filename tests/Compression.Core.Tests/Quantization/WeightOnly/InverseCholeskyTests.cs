using Compression.Core.Numerics;
using Compression.Core.Quantization.WeightOnly;

namespace Compression.Core.Tests.Quantization.WeightOnly;

public sealed class InverseCholeskyTests
{
    [Fact]
    public void Upper_factor_of_the_inverse_times_the_matrix_gives_the_identity()
    {
        const int n = 37;
        var random = new Random(5);
        var x = new double[n * 3 * n];
        for (var i = 0; i < x.Length; i++)
        {
            x[i] = random.NextDouble() - 0.5;
        }

        // H = X^T X over 3n rows: symmetric positive definite.
        var h = new double[n * n];
        for (var r = 0; r < 3 * n; r++)
        {
            for (var i = 0; i < n; i++)
            {
                for (var j = 0; j < n; j++)
                {
                    h[i * n + j] += x[r * n + i] * x[r * n + j];
                }
            }
        }

        Assert.True(InverseCholesky.TryUpperFactorOfInverse(h, n, out var u));

        for (var i = 0; i < n; i++)
        {
            for (var j = 0; j < i; j++)
            {
                Assert.Equal(0f, u[i * n + j]);
            }

            // (U^T U H)[i, j] = delta(i, j)
            for (var j = 0; j < n; j++)
            {
                double sum = 0;
                for (var k = 0; k < n; k++)
                {
                    double inverse = 0;
                    for (var m = 0; m <= Math.Min(i, k); m++)
                    {
                        inverse += (double)u[m * n + i] * u[m * n + k];
                    }

                    sum += inverse * h[k * n + j];
                }

                Assert.Equal(i == j ? 1 : 0, sum, 3);
            }
        }
    }

    [Fact]
    public void A_matrix_that_is_not_positive_definite_is_reported()
    {
        Assert.False(InverseCholesky.TryUpperFactorOfInverse([1, 2, 2, 1], 2, out _));
    }
}
