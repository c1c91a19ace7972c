using System.Globalization;
using Compression.Core.Data;
using Compression.Core.Diagnostics;
using Compression.Core.Evaluation;
using Compression.Core.Pipeline;
using Compression.Core.Recipes;
using Compression.Core.Tests.Support;
using Xunit.Abstractions;

namespace Compression.Core.Tests.Corpus;

/// <summary>
/// Every sweep step (tests/fixtures/sweep: quantize in each mode and format, prune in each method, with the cmdlet's
/// defaults) on every corpus model, through the pipeline the cmdlets run: the result is written, loads and runs in
/// ONNX Runtime, and keeps the floors on 1,000 held-back Fashion-MNIST test images (256 training images
/// calibrate). The table of these figures with latency is `bench corpus-sweep` (docs/BENCHMARKS.md).
/// </summary>
public sealed class CorpusSweepTests(ITestOutputHelper output) : IDisposable
{
    /// <summary>Pruning floors hold for models above this many parameters; smaller ones must still run.</summary>
    private const long PruneFloorParameters = 40_000;

    private readonly string folder = TestAssets.TempDirectory();

    public void Dispose() => Directory.Delete(folder, recursive: true);

    public static TheoryData<string, string> Cases()
    {
        var cases = new TheoryData<string, string>();
        foreach (var model in ExportCorpus.Models.Keys.Order(StringComparer.Ordinal))
        {
            foreach (var step in ExportCorpus.SweepSteps())
            {
                cases.Add(model, step);
            }
        }

        return cases;
    }

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public void Every_step_runs_on_every_corpus_model_and_keeps_the_floor(string model, string step)
    {
        ExportCorpus.RequireData();
        var corpus = ExportCorpus.Models[model];
        var log = new CollectingLog();
        var outputPath = Path.Combine(folder, $"{model}.{step}.onnx");
        var result = CompressionPipeline.Run(new CompressionRequest(corpus.Path, RecipeParser.Load(Path.Combine(ExportCorpus.SweepFolder, step + ".yaml")))
        {
            OutputPath = outputPath,
        }, log);

        Assert.Equal(outputPath, result.OutputPath);
        using (new ModelRunner(outputPath))
        {
            // The written file loads in ONNX Runtime (the pipeline evaluated it from its scratch copy).
        }

        var evaluation = result.Evaluation!;
        var before = evaluation.Reference.Task.Top1!.Value;
        var after = evaluation.Candidate!.Task.Top1!.Value;
        var warnings = log.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Warning).Select(d => d.Message).ToList();
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{model} {step}: top-1 {before:P2} -> {after:P2}, size {result.SizeRatio:F3}x, agreement {evaluation.Fidelity[0].Agreement:P2}"));
        warnings.ForEach(w => output.WriteLine("  warning: " + w));

        if (step.StartsWith("quantize", StringComparison.Ordinal))
        {
            Assert.True(before - after <= 0.010, $"{model} {step} loses {(before - after) * 100:F1} points (floor 1.0)");
            // A mode that cannot apply leaves the model as it was and says why.
            if (result.SizeRatio > 0.99)
            {
                Assert.NotEmpty(warnings);
            }
        }
        else if (corpus.Parameters > PruneFloorParameters)
        {
            Assert.True(before - after <= 0.020, $"{model} {step} loses {(before - after) * 100:F1} points (floor 2.0)");
        }

        if (SizeFloors.TryGetValue((model, step), out var ratio))
        {
            Assert.True(result.SizeRatio <= ratio, $"{model} {step}: file at {result.SizeRatio:F3}x (floor {ratio}x)");
        }
    }

    /// <summary>Each corpus model, as exported, gives the top-1 PyTorch measured (corpus.json) on all 10,000 test images in ONNX Runtime.</summary>
    [SkippableFact]
    public void The_corpus_models_give_in_onnx_runtime_the_accuracy_pytorch_measured()
    {
        ExportCorpus.RequireData();
        var data = DataSourceFactory.Create(new DataSetSpec
        {
            Format = DataFormat.Idx,
            Path = "t10k-images-idx3-ubyte.gz",
            Labels = "t10k-labels-idx1-ubyte.gz",
        }, TestAssets.FashionMnist);
        foreach (var corpus in ExportCorpus.Models.Values)
        {
            var report = Evaluator.Evaluate(corpus.Path, null, data, new EvaluationOptions { Metrics = [MetricName.Accuracy] }, new CollectingLog());
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{corpus.Name}: ONNX Runtime {report.Reference.Task.Top1:P2}, PyTorch {corpus.TorchTop1:P2}"));
            Assert.Equal(10_000, report.Reference.Task.Samples);
            Assert.InRange(report.Reference.Task.Top1!.Value, corpus.TorchTop1 - 0.002, corpus.TorchTop1 + 0.002);
        }
    }

    /// <summary>The size floors: recurrent models in dynamic int8, the residual CNN in 4-bit weight-only mode.</summary>
    private static readonly Dictionary<(string Model, string Step), double> SizeFloors = new()
    {
        [("lstm", "quantize-dynamic")] = 0.35,
        [("gru", "quantize-dynamic")] = 0.35,
        [("residual_cnn", "quantize-int4")] = 0.35,
    };
}
