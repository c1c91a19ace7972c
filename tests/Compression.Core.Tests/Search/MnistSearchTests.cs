using Compression.Core.Diagnostics;
using Compression.Core.Recipes;
using Compression.Core.Search;
using Compression.Core.Tests.Support;
using Xunit.Abstractions;

namespace Compression.Core.Tests.Search;

/// <summary>
/// The example search on mnist-8: real model, real MNIST halves, ONNX Runtime for every trial. Long (24 trials with
/// static calibration, about a minute), so it runs with COMPRESSION_LONG_TESTS=1; SearchRunnerTests cover the same
/// machinery on a small slice.
/// </summary>
public sealed class MnistSearchTests(ITestOutputHelper output) : IDisposable
{
    private readonly string folder = TestAssets.TempDirectory();

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [SkippableFact]
    public void Example_search_chooses_a_model_within_the_drop_and_checks_it_on_the_held_out_half()
    {
        Skip.IfNot(Environment.GetEnvironmentVariable("COMPRESSION_LONG_TESTS") == "1", "Long test: set COMPRESSION_LONG_TESTS=1 to run it.");
        var model = TestAssets.Require(TestAssets.Mnist, "mnist-8");
        var recipe = RecipeParser.Load(Path.Combine(TestAssets.RepoRoot, "examples", "recipes", "mnist-8-search.yaml"));
        var log = new CollectingLog();
        var result = SearchRunner.Run(new SearchRequest(model, recipe) { OutputPath = Path.Combine(folder, "mnist.onnx") }, log);
        foreach (var line in log.VerboseLines)
        {
            output.WriteLine(line);
        }

        output.WriteLine(result.Summary);
        Assert.NotNull(result.Chosen);
        Assert.True(result.Chosen!.Metric("accuracy_drop") <= 0.002);
        Assert.True(result.Final!.OutputSizeBytes < new FileInfo(model).Length / 2);
        Assert.Contains(result.Front, t => t.Number == result.Chosen.Number);
        Assert.True(File.Exists(result.PlotPath));
        output.WriteLine(Compression.Core.Search.SearchReport.Held(result.Final.Evaluation!));
    }
}
