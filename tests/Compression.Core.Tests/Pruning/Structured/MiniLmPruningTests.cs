using System.Diagnostics;
using Compression.Core.Data;
using Compression.Core.Diagnostics;
using Compression.Core.Evaluation;
using Compression.Core.Onnx;
using Compression.Core.Pruning;
using Compression.Core.Pruning.Structured;
using Compression.Core.Tests.Quantization;
using Compression.Core.Tests.Support;
using Xunit.Abstractions;

namespace Compression.Core.Tests.Pruning.Structured;

/// <summary>
/// all-MiniLM-L6-v2 (fp32: Spearman 82.03 on the STS-B test set, 90.9 MB): a quarter of every FFN's neurons and
/// 2 of the 12 heads of every layer removed, calibrated on 256 sentences of the STS-B dev set; beside the
/// magnitude-only result (L1, no data).
/// </summary>
public sealed class MiniLmPruningTests(ITestOutputHelper output) : IDisposable
{
    private readonly string temp = TestAssets.TempDirectory();

    public void Dispose() => Directory.Delete(temp, recursive: true);

    [SkippableFact]
    public void Plan_finds_six_attention_blocks_of_12_heads_and_six_ffn_groups_of_1536_neurons()
    {
        var model = ModelLoader.Load(TestAssets.Require(TestAssets.MiniLm, "all-MiniLM-L6-v2"));
        var plan = StructuredPruner.Plan(model, StructuredTestData.Options(new StructuredPruneOptions { Heads = 2, Neurons = 0.25 }, reconstruct: false));

        output.WriteLine(string.Join(Environment.NewLine, plan.Groups.Select(g => $"{g.Kind} {g.Name}: {g.Units} -> {g.Units - g.Removed}; tensors {string.Join(", ", g.Tensors)}")));
        Assert.Equal(6, plan.Groups.Count(g => g.Kind == ChannelGroupKind.AttentionHeads && g.Units == 12 && g.Removed == 2));
        Assert.Equal(6, plan.Groups.Count(g => g.Kind == ChannelGroupKind.Neurons && g.Units == 1536 && g.Removed == 384));
        Assert.Equal(12, plan.Groups.Count);
    }

    /// <summary>Long (two STS-B evaluations and a calibrated prune): runs with COMPRESSION_LONG_TESTS=1.</summary>
    [SkippableFact]
    public void A_quarter_of_the_ffn_neurons_and_two_heads_per_layer_keep_the_spearman()
    {
        Skip.IfNot(Environment.GetEnvironmentVariable("COMPRESSION_LONG_TESTS") == "1", "Long test: set COMPRESSION_LONG_TESTS=1 to run it.");
        var original = TestAssets.Require(TestAssets.MiniLm, "all-MiniLM-L6-v2");
        var structured = new StructuredPruneOptions { Heads = 2, Neurons = 0.25 };
        var magnitude = PruneAndEvaluate(original, StructuredTestData.Options(structured, reconstruct: false), "magnitude");
        var reconstructed = PruneAndEvaluate(original, StructuredTestData.Options(structured, reconstruct: true, criterion: ImportanceCriterion.Auto), "reconstructed");

        Assert.True(reconstructed.Spearman >= 80.0, $"Spearman {reconstructed.Spearman:F2}");
        Assert.True(reconstructed.Spearman > magnitude.Spearman, $"reconstructed {reconstructed.Spearman:F2} not above magnitude-only {magnitude.Spearman:F2}");
    }

    /// <summary>
    /// The file at 0.8x: the 46.9 MB embedding table is half the file and no head or neuron is in it, so the encoder
    /// must lose more than a quarter of its FFN neurons: 2 heads and 56 % of the FFN neurons per layer, scored by
    /// output error (the default with calibration data) and refit. Long: runs with COMPRESSION_LONG_TESTS=1.
    /// </summary>
    [SkippableFact]
    public void Two_heads_and_56_percent_of_the_ffn_neurons_make_the_file_0_8x_and_keep_a_spearman_of_80()
    {
        Skip.IfNot(Environment.GetEnvironmentVariable("COMPRESSION_LONG_TESTS") == "1", "Long test: set COMPRESSION_LONG_TESTS=1 to run it.");
        var original = TestAssets.Require(TestAssets.MiniLm, "all-MiniLM-L6-v2");
        var options = StructuredTestData.Options(new StructuredPruneOptions { Heads = 2, Neurons = 0.56 }, reconstruct: true, criterion: ImportanceCriterion.Auto);
        var (spearman, _, ratio) = PruneAndEvaluate(original, options, "0.8x", latency: false);

        Assert.True(ratio <= 0.8, $"file {ratio:F3}x");
        Assert.True(spearman >= 80.0, $"Spearman {spearman:F2}");
    }

    private (double Spearman, double Seconds, double FileRatio) PruneAndEvaluate(string original, PruneOptions options, string tag, bool latency = true)
    {
        var log = new CollectingLog();
        var stopwatch = Stopwatch.StartNew();
        var result = StructuredTestData.Prune(ModelLoader.Load(original), options, options.Calibration is null ? null : Sentences(original, 256), log);
        var seconds = stopwatch.Elapsed.TotalSeconds;
        var path = QuantizationAssets.SaveBesideVocab(result.Model, original, temp, tag);
        var report = QuantizationAssets.Stsb(original, path);
        var spearman = report.Candidate!.Task.Spearman!.Value * 100;
        var layers = StructuredTestData.Layers(result);
        if (latency)
        {
            // A figure for docs/BENCHMARKS.md, not an assertion: batch 1, one thread, the same sentences for both.
            var timing = new LatencyOptions { Batch = 1, Threads = 1, Warmup = 5, Runs = 50 };
            var floatMs = Evaluator.MeasureLatency(original, Sentences(original, 64), timing).MedianMs;
            var prunedMs = Evaluator.MeasureLatency(path, Sentences(original, 64), timing).MedianMs;
            output.WriteLine($"{tag}: latency fp32 {floatMs:F2} ms, pruned {prunedMs:F2} ms ({prunedMs / floatMs:F2}x)");
        }

        output.WriteLine($"{tag}: Spearman {spearman:F2} (fp32 {report.Reference.Task.Spearman!.Value * 100:F2}), {new FileInfo(path).Length / 1e6:F2} MB " +
            $"({(double)new FileInfo(path).Length / new FileInfo(original).Length:F3}x), pruned in {seconds:F1} s; {StructuredTestData.Describe(result)}; " +
            $"layer errors {string.Join(" ", layers.Where(l => l.Error is not null).Select(l => $"{l.Node}={l.Error:F3}"))}");
        Assert.DoesNotContain(log.Diagnostics, d => d.Severity == DiagnosticSeverity.Error);
        return (spearman, seconds, (double)new FileInfo(path).Length / new FileInfo(original).Length);
    }

    /// <summary>The first sentences of the STS-B dev set (never the test set the figures are measured on).</summary>
    internal static IDataSource Sentences(string model, int count)
    {
        var dev = TestAssets.Require(Path.Combine(TestAssets.SharedAssets, "stsb", "sts-dev.tsv"), "STS-B dev set");
        return DataSourceFactory.Create(new DataSetSpec
        {
            Format = DataFormat.Text,
            Path = dev,
            Column = 5,
            Take = count,
            Vocab = Path.Combine(Path.GetDirectoryName(model)!, "vocab.txt"),
        }, Path.GetDirectoryName(dev)!);
    }
}
