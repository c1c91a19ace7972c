using Compression.Core.Calibration;
using Compression.Core.Quantization.WeightOnly;

namespace Compression.Core.Tests.Quantization.WeightOnly;

public sealed class GptqQuantizerTests
{
    private const int Samples = 512;
    private const int K = 96;
    private const int N = 40;

    [Theory]
    [InlineData(4, 32, true)]
    [InlineData(4, 16, false)]
    [InlineData(8, 32, true)]
    public void Gptq_moves_the_layer_output_less_than_round_to_nearest(int bits, int blockSize, bool symmetric)
    {
        var random = new Random(9);
        // Correlated inputs with uneven feature scales, as real activations have: where GPTQ's compensation pays.
        var mixing = Normal(random, K * K);
        var latent = Normal(random, Samples * K);
        var inputs = new float[Samples * K];
        for (var s = 0; s < Samples; s++)
        {
            for (var i = 0; i < K; i++)
            {
                float sum = 0;
                for (var j = 0; j < K; j++)
                {
                    sum += latent[s * K + j] * mixing[j * K + i];
                }

                inputs[s * K + i] = sum * (1 + i % 7);
            }
        }

        var weight = Normal(random, N * K);
        var accumulator = new HessianAccumulator(K);
        accumulator.Add(inputs.AsSpan(0, Samples / 2 * K), []);
        accumulator.Add(inputs.AsSpan(Samples / 2 * K), []);
        var layout = new BlockLayout(bits, blockSize, symmetric);

        var gptq = GptqQuantizer.Quantize(weight, N, K, accumulator.Hessian(), layout, CancellationToken.None);
        var rtn = BlockQuantizer.QuantizeRows(weight, N, K, layout, CancellationToken.None);

        var gptqError = OutputError(inputs, weight, gptq);
        var rtnError = OutputError(inputs, weight, rtn);
        Assert.True(gptqError < 0.8 * rtnError, $"GPTQ {gptqError:E3} vs RTN {rtnError:E3}");
    }

    [Fact]
    public void Hessian_rows_masked_out_are_left_out()
    {
        var accumulator = new HessianAccumulator(2);
        accumulator.Add([1, 2, 100, 100, 3, 4], [true, false, true]);

        Assert.Equal(2, accumulator.Rows);
        Assert.Equal([10, 14, 14, 20], accumulator.Hessian()); // 2 / 2 * ([1 2]^T [1 2] + [3 4]^T [3 4])
    }

    /// <summary>Sum over samples of the squared difference between X W^T and X Ŵ^T.</summary>
    private static double OutputError(float[] inputs, float[] weight, QuantizedRows quantized)
    {
        double error = 0;
        for (var s = 0; s < Samples; s++)
        {
            for (var n = 0; n < N; n++)
            {
                double exact = 0, approximate = 0;
                for (var k = 0; k < K; k++)
                {
                    var block = n * quantized.BlocksPerRow + k / quantized.Layout.BlockSize;
                    var decoded = quantized.Scales[block] * (quantized.Codes[n * K + k] - quantized.ZeroPoints[block]);
                    exact += inputs[s * K + k] * weight[n * K + k];
                    approximate += inputs[s * K + k] * decoded;
                }

                error += (exact - approximate) * (exact - approximate);
            }
        }

        return error;
    }

    private static float[] Normal(Random random, int count)
    {
        var values = new float[count];
        for (var i = 0; i < count; i++)
        {
            values[i] = (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));
        }

        return values;
    }
}
