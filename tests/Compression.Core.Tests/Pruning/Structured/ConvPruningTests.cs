using Compression.Core.Diagnostics;
using Compression.Core.Evaluation;
using Compression.Core.Onnx;
using Compression.Core.Pruning;
using Compression.Core.Pruning.Structured;
using Compression.Core.Tests.Quantization.Static;
using Compression.Core.Tests.Support;
using Xunit.Abstractions;

namespace Compression.Core.Tests.Pruning.Structured;

/// <summary>
/// Structured pruning of real CNNs: mnist-8 (fp32 98.90 % on the MNIST test set; calibrated on the first 256 test
/// images) and ResNet18 features (calibrated and checked on the seven photos). Each case beside its magnitude-only
/// result (L1, no data), so the gain of calibration and reconstruction is visible.
/// </summary>
public sealed class ConvPruningTests(ITestOutputHelper output) : IDisposable
{
    private readonly PassHarness harness = new();

    public void Dispose() => harness.Dispose();

    /// <summary>Calibrated on the first 1,024 test images: with 256 the classifier's 256-row refit has as many unknowns as samples.</summary>
    [SkippableTheory]
    [InlineData(ImportanceCriterion.L1)]
    [InlineData(ImportanceCriterion.OutputError)]
    public void Mnist_keeps_its_accuracy_with_a_quarter_of_the_conv_channels_removed(ImportanceCriterion criterion)
    {
        var source = TestAssets.Require(TestAssets.Mnist, "mnist-8");
        var structured = new StructuredPruneOptions { Channels = 0.25 };
        var magnitude = Evaluate(source, StructuredTestData.Options(structured, reconstruct: false), null);
        var reconstructed = Evaluate(source, StructuredTestData.Options(structured, reconstruct: true, samples: 1024, criterion: criterion), StaticTestData.Mnist(1024));

        Assert.True(reconstructed.Top1 >= 0.985, $"top-1 {reconstructed.Top1:P2}");
        Assert.True(reconstructed.Size < new FileInfo(source).Length * 0.85, $"{reconstructed.Size} bytes");
        Assert.Equal(2, reconstructed.Groups);
        Assert.True(reconstructed.Top1 >= magnitude.Top1, $"reconstructed {reconstructed.Top1:P2} below magnitude-only {magnitude.Top1:P2}");
    }

    [SkippableFact]
    public void Plan_of_mnist_names_both_conv_groups_and_the_flatten_into_the_classifier()
    {
        var source = TestAssets.Require(TestAssets.Mnist, "mnist-8");
        var plan = StructuredPruner.Plan(ModelLoader.Load(source), StructuredTestData.Options(new StructuredPruneOptions { Channels = 0.25 }, reconstruct: false));

        output.WriteLine(string.Join(Environment.NewLine, plan.Groups.Select(g => $"{g.Name}: {g.Units} -> {g.Units - g.Removed} [{string.Join(", ", g.RemovedUnits!)}]; consumers {string.Join(", ", g.Consumers)}; tensors {string.Join(", ", g.Tensors)}")));
        output.WriteLine(string.Join(Environment.NewLine, plan.Skipped.Select(s => $"left alone {string.Join(", ", s.Layers)}: {s.Reason}")));
        Assert.Equal([8, 16], plan.Groups.Select(g => g.Units));
        Assert.Equal([2, 4], plan.Groups.Select(g => g.Removed));
        Assert.Equal(["Conv", "MatMul"], plan.Groups.Select(g => ModelLoader.Load(source).Proto.Graph.Node.First(n => ChannelGroupName(n) == g.Consumers[0]).OpType));
        Assert.All(plan.Groups, g => Assert.Equal(g.Removed, g.RemovedUnits!.Count));
    }

    [SkippableFact]
    public void ResNet18_inner_convolutions_lose_30_percent_and_keep_the_features()
    {
        Skip.IfNot(Environment.GetEnvironmentVariable("COMPRESSION_LONG_TESTS") == "1", "Long test (a calibrated prune of ResNet18): set COMPRESSION_LONG_TESTS=1 to run it.");
        var source = TestAssets.Require(TestAssets.ResNet18, "ResNet18");
        var structured = new StructuredPruneOptions { Channels = 0.3 };
        var magnitude = Evaluate(source, StructuredTestData.Options(structured, reconstruct: false), null, photos: true);
        var reconstructed = Evaluate(source, StructuredTestData.Options(structured, reconstruct: true), StaticTestData.Photos(), photos: true);

        Assert.True(reconstructed.Groups >= 8, $"{reconstructed.Groups} groups"); // one per basic block at least; the residual groups are coupled and left alone
        Assert.True(reconstructed.Cosine >= 0.95, $"cosine {reconstructed.Cosine:F4}");
        Assert.True(reconstructed.Cosine > magnitude.Cosine, $"reconstructed {reconstructed.Cosine:F4} not above magnitude-only {magnitude.Cosine:F4}");
    }

    [SkippableFact]
    public void ResNet18_residual_groups_prune_every_convolution_of_a_stage_together_and_still_run()
    {
        Skip.IfNot(Environment.GetEnvironmentVariable("COMPRESSION_LONG_TESTS") == "1", "Long test (a calibrated prune of ResNet18): set COMPRESSION_LONG_TESTS=1 to run it.");
        var source = TestAssets.Require(TestAssets.ResNet18, "ResNet18");
        var structured = new StructuredPruneOptions { Channels = 0.3, Coupled = true };
        var plan = StructuredPruner.Plan(ModelLoader.Load(source), StructuredTestData.Options(structured, reconstruct: false));
        output.WriteLine(string.Join(Environment.NewLine, plan.Groups.Where(g => g.Layers.Count > 1).Select(g => $"coupled group {string.Join(", ", g.Layers)}: {g.Units} -> {g.Units - g.Removed}")));
        output.WriteLine(string.Join(Environment.NewLine, plan.Skipped.Select(s => $"left alone {string.Join(", ", s.Layers)}: {s.Reason}")));
        var magnitude = Evaluate(source, StructuredTestData.Options(structured, reconstruct: false), null, photos: true);
        var reconstructed = Evaluate(source, StructuredTestData.Options(structured, reconstruct: true), StaticTestData.Photos(), photos: true);

        // The model runs; the figure goes to docs/BENCHMARKS.md. The last stage's channels reach the output and stay.
        Assert.True(reconstructed.Groups >= 11, $"{reconstructed.Groups} groups"); // the inner ones and stages 1-3
        Assert.Equal(3, plan.Groups.Count(g => g.Layers.Count > 1));
        Assert.True(reconstructed.Cosine > magnitude.Cosine, $"cosine {reconstructed.Cosine:F4} / {magnitude.Cosine:F4}");
    }

    private static string ChannelGroupName(Core.Onnx.Protobuf.NodeProto node) => node.Name.Length > 0 ? node.Name : $"{node.OpType}:{node.Output[0]}";

    private (double Top1, double Cosine, long Size, int Groups) Evaluate(string source, Core.Pruning.PruneOptions options, Core.Data.IDataSource? calibration, bool photos = false)
    {
        var log = new CollectingLog();
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var result = StructuredTestData.Prune(ModelLoader.Load(source), options, calibration, log);
        var seconds = watch.Elapsed.TotalSeconds;
        var path = harness.Save(result.Model);
        var data = photos ? StaticTestData.Photos() : StaticTestData.Mnist(null);
        var report = Evaluator.Evaluate(source, path, data, new EvaluationOptions { BatchSize = 1 }, log);
        var size = new FileInfo(path).Length;
        var top1 = report.Candidate!.Task.Top1 ?? double.NaN;
        var layers = StructuredTestData.Layers(result);
        var worst = layers.Where(l => l.Error is not null).Select(l => l.Error!.Value).DefaultIfEmpty(double.NaN).Max();
        output.WriteLine($"{(options.Reconstruct ? "reconstructed" : "magnitude-only")} ({options.Criterion}): top-1 {top1:P2}, cosine {report.Fidelity[0].Cosine:F4}, " +
            $"{size} bytes of {new FileInfo(source).Length} ({(double)size / new FileInfo(source).Length:F3}x), pruned in {seconds:F1} s, worst layer error {worst:F4}; {StructuredTestData.Describe(result)}");
        return (top1, report.Fidelity[0].Cosine, size, PassHarness.Result<StructuredPruneResult>(result).Groups);
    }
}
