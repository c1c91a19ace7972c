using System.Text.Json;
using Compression.Core.Diagnostics;
using Compression.Core.Evaluation;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Inspection;
using Compression.Core.Pipeline;
using Compression.Core.Recipes;
using Compression.Core.Tests.Support;

namespace Compression.Core.Tests.Pipeline;

/// <summary>The whole pipeline on real models and data: load, steps, evaluation, gates, atomic save, report.</summary>
public sealed class PipelineTests : IDisposable
{
    private readonly string folder = TestAssets.TempDirectory();

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [SkippableFact]
    public void Mnist_round_trip_recipe_reports_the_published_accuracy_and_passes_its_gates()
    {
        var model = CopyMnist();
        var recipe = WriteRecipe($$"""
            version: 1
            data:
              test: { format: idx, path: {{MnistFile("t10k-images-idx3-ubyte.gz")}}, labels: {{MnistFile("t10k-labels-idx1-ubyte.gz")}}, scale: 1/255 }
            steps: []
            evaluate: { data: test, metrics: [accuracy, agreement, sqnr] }
            gates: { accuracy_drop: 0.0, min_agreement: 1.0, max_size_ratio: 1.1 }
            output: "{name}.same.onnx"
            """);
        var log = new CollectingLog();
        var result = CompressionPipeline.Run(new CompressionRequest(model, RecipeParser.Load(recipe)), log);

        Assert.True(result.Passed, string.Join("; ", result.Gates.Select(g => g.Message)));
        Assert.Equal(0.9890, result.Evaluation!.Reference.Task.Top1!.Value, 4);
        Assert.Equal(0.9890, result.Evaluation.Candidate!.Task.Top1!.Value, 4);
        Assert.Equal(10_000, result.Evaluation.Reference.Task.Samples);
        var fidelity = Assert.Single(result.Evaluation.Fidelity);
        Assert.Equal(1.0, fidelity.Agreement);
        Assert.Equal(0, fidelity.MaxAbsoluteError);
        Assert.Equal(Path.Combine(folder, "mnist-8.same.onnx"), result.OutputPath);
        Assert.Equal(3, result.Gates.Count);

        // The report beside the output, and the same summary inside the model.
        using var report = JsonDocument.Parse(File.ReadAllText(result.ReportPath!));
        Assert.Equal(0.989, report.RootElement.GetProperty("evaluation").GetProperty("after").GetProperty("Top1").GetDouble(), 4);
        Assert.Equal(64, report.RootElement.GetProperty("input_sha256").GetString()!.Length);
        var stamped = ModelLoader.Load(result.OutputPath!).Proto.MetadataProps.Single(p => p.Key == "compression");
        Assert.Contains("\"steps\":[]", stamped.Value, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Same_inputs_give_a_byte_identical_model()
    {
        var model = CopyMnist();
        var recipe = WriteRecipe($$"""
            data:
              test: { format: idx, path: {{MnistFile("t10k-images-idx3-ubyte.gz")}}, labels: {{MnistFile("t10k-labels-idx1-ubyte.gz")}}, take: 50 }
            evaluate: { data: test }
            """);
        var first = CompressionPipeline.Run(new CompressionRequest(model, RecipeParser.Load(recipe)) { OutputPath = Path.Combine(folder, "a.onnx") }, new CollectingLog());
        var second = CompressionPipeline.Run(new CompressionRequest(model, RecipeParser.Load(recipe)) { OutputPath = Path.Combine(folder, "b.onnx") }, new CollectingLog());
        Assert.Equal(File.ReadAllBytes(first.OutputPath!), File.ReadAllBytes(second.OutputPath!));
    }

    [SkippableFact]
    public void A_failed_gate_keeps_the_report_and_writes_no_model()
    {
        var model = CopyMnist();
        var recipe = WriteRecipe("gates: { max_size_ratio: 0.5 }\n");
        var result = CompressionPipeline.Run(new CompressionRequest(model, RecipeParser.Load(recipe)), new CollectingLog());

        Assert.False(result.Passed);
        var failure = Assert.Single(result.Diagnostics);
        Assert.Equal(ErrorCodes.GateFailed, failure.Code);
        Assert.Contains("max_size_ratio", failure.Message, StringComparison.Ordinal);
        Assert.Contains("limit 50.00 %", failure.Message, StringComparison.Ordinal);
        Assert.Null(result.OutputPath);
        Assert.False(File.Exists(Path.Combine(folder, "mnist-8.compressed.onnx")));
        Assert.True(File.Exists(result.ReportPath));
    }

    [SkippableFact]
    public void Never_overwrites_the_input_or_an_existing_output_without_force()
    {
        var model = CopyMnist();
        var recipe = RecipeParser.Load(WriteRecipe("output: \"{name}.onnx\"\n"));
        var error = Assert.Throws<CompressionException>(() => CompressionPipeline.Run(new CompressionRequest(model, recipe), new CollectingLog()));
        Assert.Equal(ErrorCodes.OutputIsInput, error.Code);

        var existing = Path.Combine(folder, "taken.onnx");
        File.WriteAllText(existing, "keep");
        error = Assert.Throws<CompressionException>(() => CompressionPipeline.Run(new CompressionRequest(model, recipe) { OutputPath = existing }, new CollectingLog()));
        Assert.Equal(ErrorCodes.OutputExists, error.Code);
        Assert.Equal("keep", File.ReadAllText(existing));

        CompressionPipeline.Run(new CompressionRequest(model, recipe) { OutputPath = existing, Force = true }, new CollectingLog());
        Assert.NotEqual("keep", File.ReadAllText(existing));
    }

    [Fact]
    public void Structured_pruning_reports_the_MACs_it_removes_and_the_MACs_gate_judges_them()
    {
        var model = Path.Combine(folder, "mlp_gemm.onnx");
        File.Copy(Path.Combine(TestAssets.Corpus, "mlp_gemm.onnx"), model);
        string Recipe(double limit) => WriteRecipe($$"""
            steps:
              - prune: { method: structured, sparsity: 0.5 }
            gates: { max_macs_ratio: {{limit.ToString(System.Globalization.CultureInfo.InvariantCulture)}} }
            """);

        var result = CompressionPipeline.Run(new CompressionRequest(model, RecipeParser.Load(Recipe(0.6))), new CollectingLog());

        Assert.Equal(784 * 160 + 160 * 96 + 96 * 10, result.InputMacs.Macs);
        // Half the neurons of both hidden layers: 80 and 48 remain.
        Assert.Equal(784 * 80 + 80 * 48 + 48 * 10, result.OutputMacs.Macs);
        Assert.True(result.Passed, string.Join("; ", result.Gates.Select(g => g.Message)));
        Assert.Equal((double)result.OutputMacs.Macs / result.InputMacs.Macs, result.MacsRatio);
        using (var report = JsonDocument.Parse(File.ReadAllText(result.ReportPath!)))
        {
            Assert.Equal(result.InputMacs.Macs, report.RootElement.GetProperty("input_macs").GetProperty("macs").GetInt64());
            Assert.Equal(result.OutputMacs.Macs, report.RootElement.GetProperty("output_macs").GetProperty("macs").GetInt64());
            Assert.Equal(0, report.RootElement.GetProperty("output_macs").GetProperty("uncounted_nodes").GetArrayLength());
        }

        var failed = CompressionPipeline.Run(new CompressionRequest(model, RecipeParser.Load(Recipe(0.4))) { Force = true }, new CollectingLog());
        Assert.Contains("Gate max_macs_ratio: the MACs ratio is 47.29 %, limit 40.00 % — failed.", Assert.Single(failed.Diagnostics).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_MACs_gate_does_not_judge_a_partial_count()
    {
        var complete = new MacCount(100, 1, []);
        var partial = new MacCount(10, 1, ["/Einsum"]);

        var verdict = Assert.Single(Gates.Check(new GateSpec { MaxMacsRatio = 1 }, 1, 1, complete, partial, evaluation: null));

        Assert.False(verdict.Passed);
        Assert.Null(verdict.Value);
        Assert.Contains("could not be measured (1 linear nodes of unknown shape: /Einsum)", verdict.Message, StringComparison.Ordinal);
    }

    private string CopyMnist()
    {
        var path = Path.Combine(folder, "mnist-8.onnx");
        File.Copy(TestAssets.Require(TestAssets.Mnist, "mnist-8"), path);
        return path;
    }

    private static string MnistFile(string name) => TestAssets.Require(Path.Combine(TestAssets.SharedAssets, "mnist", name), $"MNIST {name}");

    private string WriteRecipe(string text)
    {
        var path = Path.Combine(folder, $"recipe-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(path, text);
        return path;
    }
}
