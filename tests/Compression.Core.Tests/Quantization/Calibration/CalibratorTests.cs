using Compression.Core.Quantization.Calibration;

namespace Compression.Core.Tests.Quantization.Calibration;

/// <summary>Each calibrator on synthetic distributions whose answer is known.</summary>
public sealed class CalibratorTests
{
    private const int Span8 = 255;

    [Fact]
    public void MinMax_of_a_uniform_sample_is_its_exact_extremes_over_many_batches()
    {
        var calibrator = new MinMaxCalibrator();
        foreach (var batch in Batches(Uniform(10_000, -1, 3, seed: 1), 7))
        {
            calibrator.Collect(batch);
        }

        var values = Uniform(10_000, -1, 3, seed: 1);
        Assert.Equal((values.Min(), values.Max()), calibrator.ComputeRange());
    }

    [Fact]
    public void MinMax_moving_average_averages_the_batch_extremes()
    {
        var calibrator = new MinMaxCalibrator(movingAverage: true);
        calibrator.Collect([0f, 1f]);
        calibrator.Collect([-2f, 3f]);
        Assert.Equal((-1f, 2f), calibrator.ComputeRange());
    }

    [Fact]
    public void Histogram_widening_merges_bins_exactly_and_keeps_every_count()
    {
        var histogram = new AbsoluteHistogram(100);
        histogram.Add([0.5f, -0.25f, 0f]);
        histogram.Add([100f]);
        Assert.Equal(4, histogram.Total);
        Assert.Equal(100, histogram.Counts.Length);
        Assert.True(histogram.Limit >= 100);
        Assert.Equal(3, histogram.Counts[0]);
        Assert.Equal(1, histogram.Counts[(int)(100 / histogram.BinWidth)]);
    }

    [Theory]
    [InlineData("percentile")]
    [InlineData("entropy")]
    [InlineData("mse")]
    public void Histogram_methods_clip_a_gaussian_well_inside_one_huge_outlier(string method)
    {
        ITensorCalibrator calibrator = method switch
        {
            "percentile" => new PercentileCalibrator(99.99, 2048, Span8),
            "entropy" => new EntropyCalibrator(2048, Span8),
            _ => new MseCalibrator(2048, Span8),
        };
        // A million samples: with fewer, one value at 1000 really is worth keeping for the squared error.
        var values = Gaussian(1_000_000, seed: 2);
        values[12_345] = 1000f;
        foreach (var batch in Batches(values, 16))
        {
            calibrator.Collect(batch);
        }

        var (min, max) = calibrator.ComputeRange();
        // N(0, 1) and one value at 1000. Percentile clips near 4; entropy cannot go below 128 of the 2048 bins the
        // outlier stretched to ~1024 (62.5); MSE weighs the outlier's squared error against rounding noise (~160).
        Assert.InRange(max, 2.5f, 200f);
        Assert.InRange(min, -200f, -2.5f);
    }

    [Fact]
    public void Percentile_of_a_uniform_sample_is_its_quantile()
    {
        var calibrator = new PercentileCalibrator(90, 2048, Span8);
        calibrator.Collect(Uniform(100_000, 0, 1, seed: 3));
        var (min, max) = calibrator.ComputeRange();
        Assert.InRange(min, 0f, 0.001f);
        Assert.InRange(max, 0.89f, 0.91f);
    }

    [Fact]
    public void Mse_keeps_the_whole_range_of_a_uniform_sample()
    {
        // Clipping a uniform distribution only adds error: the optimum is (close to) the full range.
        var calibrator = new MseCalibrator(2048, Span8);
        calibrator.Collect(Uniform(100_000, -1, 1, seed: 4));
        var (_, max) = calibrator.ComputeRange();
        Assert.InRange(max, 0.97f, 1.0f);
    }

    private static IEnumerable<float[]> Batches(float[] values, int count)
    {
        var size = (values.Length + count - 1) / count;
        for (var start = 0; start < values.Length; start += size)
        {
            yield return values[start..Math.Min(values.Length, start + size)];
        }
    }

    private static float[] Uniform(int count, float low, float high, int seed)
    {
        var random = new Random(seed);
        var values = new float[count];
        for (var i = 0; i < count; i++)
        {
            values[i] = low + (float)random.NextDouble() * (high - low);
        }

        return values;
    }

    private static float[] Gaussian(int count, int seed)
    {
        var random = new Random(seed);
        var values = new float[count];
        for (var i = 0; i < count; i++)
        {
            // Box-Muller.
            var u = 1 - random.NextDouble();
            var v = random.NextDouble();
            values[i] = (float)(Math.Sqrt(-2 * Math.Log(u)) * Math.Cos(2 * Math.PI * v));
        }

        return values;
    }
}
