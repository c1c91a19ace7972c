using System.Globalization;
using Compression.Core.Diagnostics;
using Compression.Core.Pipeline;
using Compression.Core.Recipes;
using Compression.Core.Tests.Corpus;
using Compression.Core.Tests.Support;
using Xunit.Abstractions;

namespace Compression.Core.Tests.Quantization.Static;

/// <summary>
/// A layer kept float beside quantized ones reads exact values. A Relu6 absorbed into the range of the Conv before it
/// is gone from the graph; a float depthwise Conv after it once read the unclamped value and mobile_se fell from 86 %
/// to 25 % (format auto keeps such small layers float when the quantized model is slower than float here).
/// </summary>
public sealed class FloatNeighbourTests(ITestOutputHelper output) : IDisposable
{
    private readonly string folder = TestAssets.TempDirectory();

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [SkippableTheory]
    [InlineData("qdq")]
    [InlineData("qoperator")]
    public void Depthwise_convolutions_kept_float_after_an_absorbed_relu6_keep_the_accuracy(string format)
    {
        ExportCorpus.RequireData();
        var sweep = File.ReadAllText(Path.Combine(ExportCorpus.SweepFolder, "quantize-static.yaml"));
        var recipe = sweep.Replace("quantize: { mode: static,", $"quantize: {{ mode: static, format: {format}, exclude: ['*/depthwise/*'],", StringComparison.Ordinal);
        Assert.NotEqual(sweep, recipe);
        var path = Path.Combine(folder, "recipe.yaml");
        File.WriteAllText(path, recipe);

        var result = CompressionPipeline.Run(new CompressionRequest(ExportCorpus.Models["mobile_se"].Path, RecipeParser.Load(path))
        {
            OutputPath = Path.Combine(folder, "mobile_se.onnx"),
        }, new CollectingLog());

        var before = result.Evaluation!.Reference.Task.Top1!.Value;
        var after = result.Evaluation.Candidate!.Task.Top1!.Value;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{format}: top-1 {before:P2} -> {after:P2}, size {result.SizeRatio:F3}x"));
        Assert.True(before - after <= 0.010, $"loses {(before - after) * 100:F1} points");
        Assert.True(result.SizeRatio < 0.9, $"size {result.SizeRatio:F3}x: the other layers are quantized");
    }
}
