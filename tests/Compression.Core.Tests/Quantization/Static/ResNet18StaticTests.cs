using System.Diagnostics;
using Compression.Core.Diagnostics;
using Compression.Core.Evaluation;
using Compression.Core.Onnx;
using Compression.Core.Quantization;
using Compression.Core.Quantization.Calibration;
using Compression.Core.Quantization.Static;
using Compression.Core.Tests.Support;
using Xunit.Abstractions;

namespace Compression.Core.Tests.Quantization.Static;

/// <summary>ResNet18 features (ML.NET's export, BatchNormalization unfolded) calibrated on the seven photos.</summary>
public sealed class ResNet18StaticTests(ITestOutputHelper output) : IDisposable
{
    private readonly PassHarness harness = new();

    public void Dispose() => harness.Dispose();

    [SkippableTheory]
    [InlineData(QuantizationFormat.Auto)]
    [InlineData(QuantizationFormat.Qdq)]
    [InlineData(QuantizationFormat.QOperator)]
    public void Static_int8_features_stay_faithful_in_a_quarter_of_the_file(QuantizationFormat format)
    {
        var source = TestAssets.Require(TestAssets.ResNet18, "ResNet18");
        var photos = StaticTestData.Photos();
        var log = new CollectingLog();
        var result = StaticTestData.Quantize(ModelLoader.Load(source), StaticTestData.Options(format), photos, log);
        var path = harness.Save(result.Model);

        var report = Evaluator.Evaluate(source, path, photos, new EvaluationOptions { BatchSize = 1 }, log);
        var ratio = (double)new FileInfo(path).Length / new FileInfo(source).Length;
        var latency = new LatencyOptions { Batch = 1, Threads = 1, Warmup = 5, Runs = 40 };
        var floatMs = Evaluator.MeasureLatency(source, photos, latency).MedianMs;
        var quantizedMs = Evaluator.MeasureLatency(path, photos, latency).MedianMs;
        output.WriteLine($"{format}: cosine {report.Fidelity[0].Cosine:F5}, size ratio {ratio:F4}, fp32 {floatMs:F2} ms, int8 {quantizedMs:F2} ms; " +
            $"stats {result.Result}; warnings {string.Join(" | ", log.Diagnostics.Select(d => d.Message))}");
        Assert.True(report.Fidelity[0].Cosine >= 0.99, $"cosine {report.Fidelity[0].Cosine}");
        Assert.True(ratio <= 0.26, $"size ratio {ratio}");
    }

    /// <summary>GPTQ rounding of the weights (algorithm: gptq) against round-to-nearest, QDQ with 8-bit activations.</summary>
    [SkippableTheory]
    [InlineData(WeightOnlyAlgorithm.Rtn)]
    [InlineData(WeightOnlyAlgorithm.Gptq)]
    public void Gptq_rounding_stays_faithful(WeightOnlyAlgorithm algorithm)
    {
        var source = TestAssets.Require(TestAssets.ResNet18, "ResNet18");
        var photos = StaticTestData.Photos();
        var log = new CollectingLog();
        var result = StaticTestData.Quantize(ModelLoader.Load(source), StaticTestData.Options(QuantizationFormat.Qdq) with { Algorithm = algorithm }, photos, log);
        var path = harness.Save(result.Model);

        var fidelity = Evaluator.Evaluate(source, path, photos, new EvaluationOptions { BatchSize = 1 }, log).Fidelity[0];
        output.WriteLine($"{algorithm}: cosine {fidelity.Cosine:F5}, sqnr {fidelity.SqnrDb:F1} dB");
        Assert.True(fidelity.Cosine >= 0.99, $"cosine {fidelity.Cosine}");
    }

    /// <summary>A benchmark-style figure, not a timed assertion: calibration against plain fp32 inference over the same batches.</summary>
    [SkippableFact]
    public void Calibration_costs_little_more_than_fp32_inference()
    {
        var source = TestAssets.Require(TestAssets.ResNet18, "ResNet18");
        // 32 batches of random images: enough that session start-up does not decide the ratio.
        var batches = Core.Data.DataSourceFactory.Create(new Core.Data.DataSetSpec { Format = Core.Data.DataFormat.Random, Count = 32, Name = "random" }, harness.Temp);
        var (prepared, _) = ModelPreparation.Prepare(ModelLoader.Load(source), new Core.Passes.PassContext(new CollectingLog()));
        var tensors = QdqBuilder.TensorsToCalibrate(prepared.MainGraph, QuantizedType.U8);
        var preparedPath = harness.Save(prepared);

        var plain = Stopwatch.StartNew();
        using (var runner = new ModelRunner(preparedPath))
        {
            foreach (var batch in batches.ReadBatches(Core.Data.ModelSignature.Of(prepared), 1))
            {
                runner.Run(batch);
            }
        }

        plain.Stop();
        foreach (var method in new[] { CalibrationMethod.MinMax, CalibrationMethod.Entropy })
        {
            var calibrate = Stopwatch.StartNew();
            var ranges = ActivationRangeCollector.Collect(prepared, tensors, batches, new CalibrationSpec { Data = "random", Method = method },
                QuantizedType.U8, new CollectingLog());
            calibrate.Stop();
            output.WriteLine($"{method}: {ranges.Count} tensors over 32 batches: {calibrate.Elapsed.TotalMilliseconds:F0} ms; " +
                $"fp32 inference {plain.Elapsed.TotalMilliseconds:F0} ms; ratio {calibrate.Elapsed / plain.Elapsed:F2}");
            Assert.Equal(tensors.Count, ranges.Count);
        }
    }

    private static string Describe(IReadOnlyDictionary<string, object> statistics) =>
        string.Join(", ", statistics.Select(s => $"{s.Key}={(s.Value is System.Collections.IDictionary d ? "{" + string.Join(", ", d.Keys.Cast<object>().Select(k => $"{k}: {d[k]}")) + "}" : s.Value)}"));
}
