using Compression.Core.Data;
using Compression.Core.Diagnostics;
using Compression.Core.Evaluation;
using Compression.Core.Passes;
using Compression.Core.Pruning;
using Compression.Core.Tests.Quantization;
using Compression.Core.Tests.Support;
using Xunit.Abstractions;

namespace Compression.Core.Tests.Pruning;

/// <summary>
/// all-MiniLM-L6-v2 on the STS-B test set (fp32 Spearman 82.03): every MatMul weight pruned by magnitude alone and
/// by SparseGPT (output-error scores, refit on 128 STS-B dev sentences, bias corrected). Measured: 50 % 80.21 vs
/// 81.95; 2:4 77.19 vs 81.17 (the full table: bench/Compression.Bench prune-minilm). Long (four evaluations of
/// 1,379 pairs): runs with COMPRESSION_LONG_TESTS=1.
/// </summary>
public sealed class MiniLmPruningTests(ITestOutputHelper output) : IDisposable
{
    private readonly string temp = TestAssets.TempDirectory();

    public void Dispose() => Directory.Delete(temp, recursive: true);

    [SkippableTheory]
    [InlineData(PruningMethod.Unstructured, 81.0)]
    [InlineData(PruningMethod.NM, 79.0)]
    public void Reconstruction_keeps_the_spearman_where_magnitude_alone_loses_it(PruningMethod method, double floor)
    {
        Skip.IfNot(Environment.GetEnvironmentVariable("COMPRESSION_LONG_TESTS") == "1", "Long test: set COMPRESSION_LONG_TESTS=1 to run it.");
        var model = TestAssets.Require(TestAssets.MiniLm, "all-MiniLM-L6-v2");
        var dev = TestAssets.Require(Path.Combine(TestAssets.SharedAssets, "stsb", "sts-dev.tsv"), "STS-B dev set");
        var calibration = DataSourceFactory.Create(new DataSetSpec
        {
            Format = DataFormat.Text,
            Path = dev,
            Column = 5,
            Take = 128,
            Vocab = Path.Combine(Path.GetDirectoryName(model)!, "vocab.txt"),
        }, Path.GetDirectoryName(dev)!);
        // Every layer at the target (the figures in docs/BENCHMARKS.md): what reconstruction alone buys, apart from
        // the allocation by measured layer error that scope: auto and max_layer_error give by default.
        var magnitude = new PruneOptions { Method = method, Sparsity = 0.5, Pattern = "2:4", Scope = PruningScope.Layer, MaxLayerError = 1 };
        var sparseGpt = magnitude with { Criterion = ImportanceCriterion.OutputError, Calibration = new StepCalibrationSpec { Data = "sts-dev", Samples = 128 } };

        var magnitudeSpearman = Spearman(model, magnitude, calibration, "magnitude");
        var sparseGptSpearman = Spearman(model, sparseGpt, calibration, "sparsegpt");

        Assert.True(sparseGptSpearman >= floor, $"Spearman {sparseGptSpearman:F2}");
        Assert.True(sparseGptSpearman > magnitudeSpearman + 0.5, $"SparseGPT {sparseGptSpearman:F2}, magnitude {magnitudeSpearman:F2}");
    }

    private double Spearman(string model, PruneOptions options, IDataSource calibration, string tag)
    {
        var result = PruningRuns.Prune(model, options, new Dictionary<string, IDataSource> { ["sts-dev"] = calibration });
        Assert.True(PassHarness.Result<SparsePruneResult>(result).Sparsity >= 0.499);
        var pruned = QuantizationAssets.SaveBesideVocab(result.Model, model, temp, tag);
        var report = Evaluator.Evaluate(pruned, null, QuantizationAssets.StsbTest(pruned), new EvaluationOptions { BatchSize = 64, Threads = 2 }, new CollectingLog());
        var spearman = report.Reference.Task.Spearman!.Value * 100;
        output.WriteLine($"{options.Method} {tag}: Spearman {spearman:F2}, sparsity {PassHarness.Result<SparsePruneResult>(result).Sparsity}");
        return spearman;
    }
}
