using Compression.Core.Numerics;

namespace Compression.Core.Tests.Numerics;

/// <summary>
/// The low-rank spectrum of a weight: exact on a matrix of that rank, the rank rules, and whitening by the input's
/// second moment, which must give a smaller output error than the plain SVD at the same rank and predict it exactly.
/// </summary>
public sealed class LowRankSpectrumTests
{
    [Fact]
    public void A_matrix_of_rank_five_is_rebuilt_exactly_from_five_factors()
    {
        var random = new Random(7);
        const int inputs = 40, outputs = 30, rank = 5;
        var p = Gaussian(random, inputs * rank);
        var q = Gaussian(random, rank * outputs);
        var w = Multiply(p, q, inputs, rank, outputs);

        var spectrum = LowRankSpectrum.Of(w, inputs, outputs, inputMoment: null);
        var (a, b) = spectrum.Factors(rank);

        Assert.False(spectrum.Whitened);
        Assert.True(spectrum.RelativeError(rank) < 1e-6, $"{spectrum.RelativeError(rank)}");
        var rebuilt = Multiply(a, b, inputs, rank, outputs);
        for (var i = 0; i < w.Length; i++)
        {
            Assert.Equal(w[i], rebuilt[i], 3);
        }
    }

    [Theory]
    [InlineData(24, 16)] // fewer outputs: the eigenproblem of W^T C W
    [InlineData(16, 24)] // fewer inputs: the eigenproblem of L^T W W^T L
    public void Whitening_gives_a_smaller_output_error_than_the_plain_svd_and_predicts_it(int inputs, int outputs)
    {
        var random = new Random(11);
        const int samples = 400, rank = 4;
        // Inputs whose features differ in scale by 100x: the plain SVD spends its rank on weights the data barely uses.
        var x = Gaussian(random, samples * inputs);
        for (var s = 0; s < samples; s++)
        {
            for (var i = 0; i < inputs; i++)
            {
                x[s * inputs + i] *= (float)Math.Pow(100, (double)i / (inputs - 1) - 0.5);
            }
        }

        var w = Gaussian(random, inputs * outputs);
        var plain = OutputError(x, w, LowRankSpectrum.Of(w, inputs, outputs, null).Factors(rank), samples, inputs, outputs, rank);
        var whitenedSpectrum = LowRankSpectrum.Of(w, inputs, outputs, SecondMoment(x, samples, inputs), relativeDamping: 1e-9);
        var whitened = OutputError(x, w, whitenedSpectrum.Factors(rank), samples, inputs, outputs, rank);

        Assert.True(whitenedSpectrum.Whitened);
        Assert.True(whitened < 0.7 * plain, $"whitened {whitened:F4}, plain {plain:F4}");
        Assert.Equal(whitenedSpectrum.RelativeError(rank), whitened, 3);
    }

    [Fact]
    public void Ranks_follow_the_share_of_parameters_and_the_energy_kept()
    {
        Assert.Equal(192, LowRankSpectrum.BreakEvenRank(384, 384));
        Assert.Equal(96, LowRankSpectrum.RankForShare(384, 384, 0.5));
        var spectrum = LowRankSpectrum.Of(Diagonal([4, 3, 2, 1]), 4, 4, null);
        Assert.Equal([4.0, 3, 2, 1], spectrum.SingularValues.Select(v => Math.Round(v, 6)));
        Assert.Equal(2, spectrum.RankForEnergy(0.8)); // (16 + 9) / 30
        Assert.Equal(3, spectrum.RankForEnergy(0.9));
    }

    private static float[] Gaussian(Random random, int count)
    {
        var values = new float[count];
        for (var i = 0; i < count; i++)
        {
            values[i] = (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));
        }

        return values;
    }

    private static float[] Diagonal(float[] values)
    {
        var matrix = new float[values.Length * values.Length];
        for (var i = 0; i < values.Length; i++)
        {
            matrix[i * values.Length + i] = values[i];
        }

        return matrix;
    }

    private static float[] Multiply(float[] a, float[] b, int rows, int inner, int columns)
    {
        var c = new float[rows * columns];
        for (var i = 0; i < rows; i++)
        {
            for (var k = 0; k < inner; k++)
            {
                for (var j = 0; j < columns; j++)
                {
                    c[i * columns + j] += a[i * inner + k] * b[k * columns + j];
                }
            }
        }

        return c;
    }

    private static double[] SecondMoment(float[] x, int samples, int inputs)
    {
        var moment = new double[inputs * inputs];
        for (var s = 0; s < samples; s++)
        {
            for (var i = 0; i < inputs; i++)
            {
                for (var j = 0; j < inputs; j++)
                {
                    moment[i * inputs + j] += (double)x[s * inputs + i] * x[s * inputs + j];
                }
            }
        }

        return moment;
    }

    /// <summary>||X W - X A B|| / ||X W||.</summary>
    private static double OutputError(float[] x, float[] w, (float[] Left, float[] Right) factors, int samples, int inputs, int outputs, int rank)
    {
        var exact = Multiply(x, w, samples, inputs, outputs);
        var approximate = Multiply(Multiply(x, factors.Left, samples, inputs, rank), factors.Right, samples, rank, outputs);
        double error = 0, norm = 0;
        for (var i = 0; i < exact.Length; i++)
        {
            error += Math.Pow(exact[i] - approximate[i], 2);
            norm += Math.Pow(exact[i], 2);
        }

        return Math.Sqrt(error / norm);
    }
}
