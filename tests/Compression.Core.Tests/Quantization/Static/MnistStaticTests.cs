using Compression.Core.Diagnostics;
using Compression.Core.Evaluation;
using Compression.Core.Onnx;
using Compression.Core.Quantization;
using Compression.Core.Tests.Support;
using Xunit.Abstractions;

namespace Compression.Core.Tests.Quantization.Static;

/// <summary>mnist-8 calibrated on the first 256 test images and evaluated on all 10,000 (fp32: 98.90 %).</summary>
public sealed class MnistStaticTests(ITestOutputHelper output) : IDisposable
{
    private readonly PassHarness harness = new();

    public void Dispose() => harness.Dispose();

    [SkippableTheory]
    [InlineData(QuantizationFormat.Qdq, true)]
    [InlineData(QuantizationFormat.QOperator, true)]
    [InlineData(QuantizationFormat.Qdq, false)]
    [InlineData(QuantizationFormat.QOperator, false)]
    public void Static_int8_keeps_accuracy_in_under_13_KB(QuantizationFormat format, bool perChannel)
    {
        var source = TestAssets.Require(TestAssets.Mnist, "mnist-8");
        var log = new CollectingLog();
        var result = StaticTestData.Quantize(ModelLoader.Load(source), StaticTestData.Options(format, perChannel), StaticTestData.Mnist(256), log);
        var path = harness.Save(result.Model);

        var report = Evaluator.Evaluate(source, path, StaticTestData.Mnist(null), new EvaluationOptions(), log);
        var top1 = report.Candidate!.Task.Top1!.Value;
        var size = new FileInfo(path).Length;
        output.WriteLine($"{format} per-channel={perChannel}: top-1 {top1:P2}, {size} bytes, agreement {report.Fidelity[0].Agreement:P2}; stats {string.Join(", ", result.Statistics.Select(s => $"{s.Key}={s.Value}"))}");
        Assert.Equal(10_000, report.Candidate.Task.Samples);
        Assert.True(top1 >= 0.9885, $"top-1 {top1:P2}");
        Assert.True(size <= 13_312, $"{size} bytes");
    }
}
