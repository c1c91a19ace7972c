using System.Globalization;
using Compression.Core.Data;
using Compression.Core.Diagnostics;
using Compression.Core.Evaluation;
using Compression.Core.Onnx;
using Compression.Core.Pruning.Structured;
using Compression.Core.Tests.Corpus;
using Compression.Core.Tests.Support;
using Xunit.Abstractions;

namespace Compression.Core.Tests.Pruning.Structured;

/// <summary>
/// 30 % of the channels of the export corpus's convolutional models, calibrated and refit on 256 Fashion-MNIST training
/// images, checked on 1,000 test images: the Conv1d net (rows of the image as 28 channels, BatchNorm1d nodes, MaxPool1d,
/// Flatten into a Gemm) within 2 points; the U-Net (ConvTranspose2d, Resize, Concat skips) and the squeeze-excite
/// MobileNet run, their groups beyond what structured pruning follows left alone with the reason.
/// </summary>
public sealed class ExportedConvPruningTests(ITestOutputHelper output) : IDisposable
{
    private readonly PassHarness harness = new();

    public void Dispose() => harness.Dispose();

    [SkippableTheory]
    [InlineData("conv1d", 0.020)]
    [InlineData("unet_like", null)]
    [InlineData("mobile_se", null)]
    public void Thirty_percent_of_the_channels_go_and_the_model_shrinks_and_runs(string name, double? floor)
    {
        ExportCorpus.RequireData();
        var source = TestAssets.Require(ExportCorpus.Models.TryGetValue(name, out var corpus) ? corpus.Path : null, $"the corpus model {name}");
        var log = new CollectingLog();
        var options = StructuredTestData.Options(new StructuredPruneOptions { Channels = 0.3, Neurons = 0.3 }, reconstruct: true);
        var calibration = DataSourceFactory.Create(new DataSetSpec { Format = DataFormat.Idx, Path = "train-images-idx3-ubyte.gz", Take = 256 }, TestAssets.FashionMnist);

        var result = StructuredTestData.Prune(ModelLoader.Load(source), options, calibration, log);

        var path = harness.Save(result.Model);
        var check = DataSourceFactory.Create(new DataSetSpec
        {
            Format = DataFormat.Idx,
            Path = "t10k-images-idx3-ubyte.gz",
            Labels = "t10k-labels-idx1-ubyte.gz",
            Take = 1000,
        }, TestAssets.FashionMnist);
        var report = Evaluator.Evaluate(source, path, check, new EvaluationOptions { Metrics = [MetricName.Accuracy] }, log);
        var (before, after) = (report.Reference.Task.Top1!.Value, report.Candidate!.Task.Top1!.Value);
        var (original, pruned) = (new FileInfo(source).Length, new FileInfo(path).Length);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{name}: top-1 {before:P2} -> {after:P2}, {original} -> {pruned} bytes ({(double)pruned / original:F3}x); {StructuredTestData.Describe(result)}"));
        log.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Warning).ToList().ForEach(d => output.WriteLine($"warning {d.Code}: {d.Message}"));
        log.VerboseLines.Where(l => l.StartsWith("prune: left alone", StringComparison.Ordinal)).ToList().ForEach(output.WriteLine);

        Assert.True(pruned < original, $"{pruned} bytes of {original}");
        if (floor is { } points)
        {
            Assert.True(before - after <= points, $"{name} loses {(before - after) * 100:F1} points");
        }
    }
}
