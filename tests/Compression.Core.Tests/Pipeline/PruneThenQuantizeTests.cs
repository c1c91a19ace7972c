using Compression.Core.Diagnostics;
using Compression.Core.Evaluation;
using Compression.Core.Onnx;
using Compression.Core.Pipeline;
using Compression.Core.Recipes;
using Compression.Core.Tests.Support;
using Xunit.Abstractions;

namespace Compression.Core.Tests.Pipeline;

/// <summary>
/// A prune step then a quantize step in one recipe (examples/recipes/mnist-8-prune-quantize.yaml) against each step
/// alone, on mnist-8 and all 10,000 MNIST test images: the gains add up.
/// </summary>
public sealed class PruneThenQuantizeTests(ITestOutputHelper output) : IDisposable
{
    private readonly string folder = TestAssets.TempDirectory();

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [SkippableFact]
    public void Pruning_then_quantizing_multiplies_the_size_gains_and_adds_at_most_the_accuracy_losses()
    {
        var model = TestAssets.Require(TestAssets.Mnist, "mnist-8");
        var recipePath = Path.Combine(TestAssets.RepoRoot, "examples", "recipes", "mnist-8-prune-quantize.yaml");
        var text = File.ReadAllText(recipePath);
        var both = Run(model, text, recipePath, "both");
        // Each step alone, without the gates (set for both together) that would keep its output from being written.
        var ungated = text.Replace("gates:", "# gates:", StringComparison.Ordinal);
        var pruned = Run(model, ungated.Replace("  - quantize:", "  # - quantize:", StringComparison.Ordinal), recipePath, "prune only");
        var quantized = Run(model, ungated.Replace("  - prune:", "  # - prune:", StringComparison.Ordinal), recipePath, "quantize only");

        Assert.Equal(["prune", "quantize"], both.Steps.Select(s => s.Name));
        Assert.True(both.SizeRatio < Math.Min(pruned.SizeRatio, quantized.SizeRatio));
        // The weights' gains multiply; the file's less so on a 26 KB model, where the graph itself (names, Q/DQ
        // nodes, scales) is a third of an int8 file and pruning does not shrink it.
        var original = WeightBytes(model);
        var expected = (double)WeightBytes(pruned.OutputPath!) / original * WeightBytes(quantized.OutputPath!);
        output.WriteLine($"weight bytes: original {original:N0}, pruned {WeightBytes(pruned.OutputPath!):N0}, quantized {WeightBytes(quantized.OutputPath!):N0}, both {WeightBytes(both.OutputPath!):N0} (product {expected:N0})");
        Assert.InRange(WeightBytes(both.OutputPath!), 0.9 * expected, 1.1 * expected);
        Assert.True(Drop(both) <= Drop(pruned) + Drop(quantized) + 0.001,
            $"accuracy drop both {Drop(both):P2}, pruned {Drop(pruned):P2}, quantized {Drop(quantized):P2}");
        Assert.True(both.Passed, string.Join(Environment.NewLine, both.Gates.Where(g => !g.Passed).Select(g => g.Message)));
    }

    /// <summary>
    /// Calibrated steps are deterministic too: the same recipe twice gives the same bytes (the example's format is
    /// fixed to QDQ here, since auto chooses by timing this machine; its size gate is for the structured prune).
    /// </summary>
    [SkippableTheory]
    [InlineData("{ method: structured, structured: { channels: 0.25 }, calibration: { data: calib, samples: 1024 } }")]
    [InlineData("{ method: unstructured, sparsity: 0.5, criterion: output_error, calibration: { data: calib, samples: 256 } }")]
    public void The_same_recipe_twice_gives_the_same_bytes(string prune)
    {
        var model = TestAssets.Require(TestAssets.Mnist, "mnist-8");
        var recipePath = Path.Combine(TestAssets.RepoRoot, "examples", "recipes", "mnist-8-prune-quantize.yaml");
        var text = string.Join('\n', File.ReadAllLines(recipePath).Select(line => line.TrimStart().StartsWith("- prune:", StringComparison.Ordinal)
            ? $"  - prune: {prune}"
            : line.Replace("mode: static,", "mode: static, format: qdq,", StringComparison.Ordinal).Replace("gates:", "# gates:", StringComparison.Ordinal)));
        var first = Run(model, text, recipePath, "first");
        var second = Run(model, text, recipePath, "second");

        Assert.Equal(File.ReadAllBytes(first.OutputPath!), File.ReadAllBytes(second.OutputPath!));
    }

    /// <summary>Bytes of the stored tensor values (initializers and Constant nodes), names and graph aside.</summary>
    private static long WeightBytes(string path)
    {
        var graph = ModelLoader.Load(path).MainGraph;
        var tensors = graph.Proto.Initializer.Concat(graph.Nodes.Where(n => n.OpType == "Constant").SelectMany(n => n.Attribute).Where(a => a.T is not null).Select(a => a.T));
        return tensors.Sum(t => (long)t.RawData.Length + 4L * t.FloatData.Count + 4L * t.Int32Data.Count + 8L * t.Int64Data.Count);
    }

    private static double Drop(CompressionResult result) =>
        result.Evaluation!.Reference.Task.Top1!.Value - result.Evaluation.Candidate!.Task.Top1!.Value;

    private CompressionResult Run(string model, string recipeText, string recipePath, string tag)
    {
        var (recipe, diagnostics) = RecipeParser.Parse(recipeText, recipePath, Path.GetDirectoryName(recipePath)!);
        Assert.True(recipe is not null, string.Join(Environment.NewLine, diagnostics));
        var result = CompressionPipeline.Run(new CompressionRequest(model, recipe!) { OutputPath = Path.Combine(folder, $"{tag}.onnx") }, new CollectingLog());
        output.WriteLine($"{tag}: {result.OutputSizeBytes:N0} bytes ({result.SizeRatio:F3}x), top-1 {result.Evaluation!.Candidate!.Task.Top1:P2} (fp32 {result.Evaluation.Reference.Task.Top1:P2})");
        return result;
    }
}
