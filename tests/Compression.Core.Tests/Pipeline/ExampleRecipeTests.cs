using Compression.Core.Diagnostics;
using Compression.Core.Evaluation;
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

    private static string ReportsDescribe(StepSummary step) => Reports.ReportWriter.Describe(step.Statistics);

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
        "resnet18.yaml" => () => TestAssets.Require(TestAssets.ResNet18, "ResNet18"),
        "paddleocr-cls.yaml" => () => TestAssets.Require(TestAssets.PaddleOcr("ch_ppocr_mobile_v2.0_cls_infer.onnx"), "PaddleOCR classifier"),
        _ => null,
    };
}
