using Compression.Core.Diagnostics;
using Compression.Core.Evaluation;
using Compression.Core.Onnx;
using Compression.Core.Pipeline;
using Compression.Core.Recipes;
using Compression.Core.Reports;
using Compression.Core.Tests.Support;
using Xunit.Abstractions;

namespace Compression.Core.Tests.Pipeline;

/// <summary>Every recipe in examples/recipes runs on its model and passes its gates.</summary>
public sealed class ExampleRecipeTests(ITestOutputHelper output) : IDisposable
{
    private readonly string folder = TestAssets.TempDirectory();

    public static TheoryData<string> Recipes() => new(RecipeNames());

    private static IEnumerable<string> RecipeNames() =>
        Directory.EnumerateFiles(Path.Combine(TestAssets.RepoRoot, "examples", "recipes"), "*.yaml").Select(p => Path.GetFileName(p)).Order();

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void Every_example_recipe_has_a_model_here()
    {
        Assert.All(RecipeNames(), name => Assert.NotNull(ModelFor(name)));
    }

    [SkippableTheory]
    [MemberData(nameof(Recipes))]
    public void Example_recipe_runs_and_passes_its_gates(string name)
    {
        var recipePath = Path.Combine(TestAssets.RepoRoot, "examples", "recipes", name);
        var model = ModelFor(name)!();
        var recipe = PrepareMiniLmVocab(recipePath, model);
        var result = CompressionPipeline.Run(new CompressionRequest(model, recipe) { OutputPath = Path.Combine(folder, "out.onnx") }, new CollectingLog());
        foreach (var gate in result.Gates)
        {
            output.WriteLine(gate.Message);
        }

        output.WriteLine($"size {result.InputSizeBytes} -> {result.OutputSizeBytes}; {string.Join(", ", result.Steps.Select(s => $"{s.Name} {ReportsDescribe(s)}"))}");
        Assert.True(result.Passed, string.Join(Environment.NewLine, result.Gates.Where(g => !g.Passed).Select(g => g.Message)));
        Assert.NotEmpty(result.Gates);
        Assert.True(File.Exists(result.OutputPath));
    }

    [SkippableFact]
    public void The_demo_recipe_reports_spearman_before_and_after_in_one_line_without_a_warning()
    {
        var recipePath = Path.Combine(TestAssets.RepoRoot, "examples", "recipes", "all-MiniLM-L6-v2-demo.yaml");
        var model = TestAssets.Require(TestAssets.MiniLm, "all-MiniLM-L6-v2");
        var log = new CollectingLog();
        var result = CompressionPipeline.Run(new CompressionRequest(model, PrepareMiniLmVocab(recipePath, model)) { OutputPath = Path.Combine(folder, "demo.onnx") }, log);
        output.WriteLine(result.Summary);

        var evaluation = result.Evaluation!;
        Assert.Equal(48, evaluation.Reference.Task.Samples);
        Assert.InRange(evaluation.Reference.Task.Spearman!.Value * 100, 85, 95);
        Assert.InRange((evaluation.Reference.Task.Spearman - evaluation.Candidate!.Task.Spearman)!.Value * 100, -1, 1);
        Assert.Matches(@"^quantize \(dynamic\): 86\.7 MB -> 2\d\.\d MB \(2\d\.\d %\); Spearman \d\d\.\d\d -> \d\d\.\d\d \([+-]?\d\.\d\d\) on STS-B sample \(48 pairs\); gates: 2 passed$", result.Summary);
        Assert.Empty(log.Diagnostics);
        Assert.All(evaluation.Fidelity, f => Assert.Null(f.Agreement));

        // The report says what fits: pooled cosine for the hidden states, no top-1 agreement.
        using var report = System.Text.Json.JsonDocument.Parse(File.ReadAllText(result.ReportPath!));
        var hidden = report.RootElement.GetProperty("evaluation").GetProperty("fidelity").EnumerateArray().Single(f => f.GetProperty("Output").GetString() == "last_hidden_state");
        Assert.Equal("HiddenStates", hidden.GetProperty("Kind").GetString());
        Assert.False(hidden.TryGetProperty("Agreement", out _));
        Assert.InRange(hidden.GetProperty("PooledCosine").GetDouble(), 0.98, 1);
        var stamp = ModelLoader.Load(result.OutputPath!, LoadOptions.MetadataOnly).Proto.MetadataProps.Single(p => p.Key == "compression").Value;
        Assert.Contains("\"min_pooled_cosine\"", stamp, StringComparison.Ordinal);
        Assert.DoesNotContain("agreement", stamp, StringComparison.Ordinal);
    }

    private static string ReportsDescribe(StepSummary step) => step.Result.ToString();

    /// <summary>The MiniLM recipe names the vocab where Get-ExampleModel.ps1 puts it; in tests it sits beside the extracted model.</summary>
    private Recipe PrepareMiniLmVocab(string recipePath, string model)
    {
        var recipe = RecipeParser.Validate(recipePath) switch
        {
            (var r, var d) when d.All(x => x.Severity != DiagnosticSeverity.Error) => r!,
            (_, var d) when d.All(x => x.Code == ErrorCodes.DataVocabMissing) && name(recipePath).StartsWith("all-MiniLM", StringComparison.Ordinal) =>
                RecipeParser.Parse(File.ReadAllText(recipePath).Replace("../../out/models/all-MiniLM-L6-v2.vocab.txt", Path.Combine(Path.GetDirectoryName(model)!, "vocab.txt"), StringComparison.Ordinal),
                    recipePath, Path.GetDirectoryName(recipePath)!).Recipe!,
            (_, var d) => throw new CompressionException(d.ToList()),
        };
        return recipe;

        static string name(string path) => Path.GetFileName(path);
    }

    private static Func<string>? ModelFor(string recipe) => recipe switch
    {
        _ when recipe.StartsWith("mnist-8", StringComparison.Ordinal) => () => TestAssets.Require(TestAssets.Mnist, "mnist-8"),
        _ when recipe.StartsWith("all-MiniLM-L6-v2", StringComparison.Ordinal) => () => TestAssets.Require(TestAssets.MiniLm, "all-MiniLM-L6-v2"),
        _ when recipe.StartsWith("resnet18", StringComparison.Ordinal) => () => TestAssets.Require(TestAssets.ResNet18, "ResNet18"),
        "paddleocr-cls.yaml" => () => TestAssets.Require(TestAssets.PaddleOcr("ch_ppocr_mobile_v2.0_cls_infer.onnx"), "PaddleOCR classifier"),
        _ => null,
    };
}
