using Compression.Core.Data;
using Compression.Core.Diagnostics;
using Compression.Core.Evaluation;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Quantization;
using Compression.Core.Tests.Support;
using static Compression.Core.Tests.Passes.GraphBuilder;

namespace Compression.Core.Tests.Quantization.Static;

/// <summary>
/// A depthwise 3x3 Conv with a BatchNormalization-style bias (a large input mean times the weights, cancelled by
/// the bias) whose weights all round the same way in int8: without bias correction every output channel of the
/// quantized model is off by sum(dW) x input mean (about 0.14 here), which is what cost the PaddleOCR recognizer
/// most of its Conv accuracy. Run in ONNX Runtime on data other than the calibration data.
/// </summary>
public sealed class ConvBiasCorrectionTests : IDisposable
{
    private const int Channels = 4;
    private const int Side = 8;
    private const float InputMean = 5f;
    private readonly PassHarness harness = new();

    public void Dispose() => harness.Dispose();

    [Fact]
    public void Static_conv_output_has_no_mean_shift_from_rounded_weights()
    {
        var model = DepthwiseConv();
        var source = harness.Save(model);
        var result = StaticTestData.Quantize(model, StaticTestData.Options(QuantizationFormat.Qdq), new ShiftedNoise(seed: 1, batches: 8), new CollectingLog());
        var quantized = harness.Save(result.Model);

        var shift = new double[Channels];
        var count = 0;
        using (var reference = new ModelRunner(source))
        using (var candidate = new ModelRunner(quantized))
        {
            foreach (var batch in new ShiftedNoise(seed: 2, batches: 8).ReadBatches(ModelSignature.Of(model), 1))
            {
                var expected = reference.Run(batch)[0].Values;
                var actual = candidate.Run(batch)[0].Values;
                for (var i = 0; i < expected.Length; i++)
                {
                    shift[i / (Side * Side) % Channels] += actual[i] - expected[i];
                }

                count += Side * Side;
            }
        }

        // The rounding alone would shift every channel by ~0.14; activation rounding leaves ~1e-3.
        foreach (var total in shift)
        {
            Assert.True(Math.Abs(total / count) < 0.02, $"mean output shift {total / count:F4} per channel: {string.Join(", ", shift.Select(s => (s / count).ToString("F4")))}");
        }
    }

    /// <summary>Weights: 1 at the center tap, (k + 0.45) int8 steps elsewhere, so every one rounds down by 0.45 of a step.</summary>
    private static Core.Onnx.OnnxModel DepthwiseConv()
    {
        var step = 1f / 127.5f; // symmetric s8 scale of a channel whose largest weight is 1
        var weights = new float[Channels * 9];
        var bias = new float[Channels];
        for (var c = 0; c < Channels; c++)
        {
            for (var t = 0; t < 9; t++)
            {
                weights[c * 9 + t] = t == 4 ? 1f : (10 * (c + 1) + t + 0.45f) * step;
                bias[c] -= weights[c * 9 + t] * InputMean;
            }
        }

        var conv = Node("Conv", ["x", "weight", "bias"], ["y"], "conv");
        conv.Attribute.Add(new AttributeProto { Name = "group", I = Channels, Type = AttributeProto.Types.AttributeType.Int });
        conv.Attribute.Add(new AttributeProto { Name = "pads", Ints = { 1, 1, 1, 1 }, Type = AttributeProto.Types.AttributeType.Ints });
        return Model([conv], [Value("x", ElementType.Float, 1, Channels, Side, Side)], [Value("y", ElementType.Float, 1, Channels, Side, Side)],
            [TensorCodec.FromSingle("weight", [Channels, 1, 3, 3], weights, ElementType.Float), TensorCodec.FromSingle("bias", [Channels], bias, ElementType.Float)]);
    }

    /// <summary>Inputs of mean 5 with uniform noise of width 1, from a fixed seed.</summary>
    private sealed class ShiftedNoise(int seed, int batches) : IDataSource
    {
        public string Name => $"shifted-noise-{seed}";

        public bool IsSynthetic => true;

        public long? Count => batches;

        public IEnumerable<DataBatch> ReadBatches(ModelSignature model, int batchSize, CancellationToken cancellationToken = default)
        {
            var random = new Random(seed);
            for (var b = 0; b < batches; b++)
            {
                var values = new float[Channels * Side * Side];
                for (var i = 0; i < values.Length; i++)
                {
                    values[i] = InputMean + (float)random.NextDouble() - 0.5f;
                }

                yield return new DataBatch(1, [new TensorData(model.Inputs[0].Name, ElementType.Float, [1, Channels, Side, Side], values)]);
            }
        }
    }
}
