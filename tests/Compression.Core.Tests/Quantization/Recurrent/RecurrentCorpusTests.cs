using System.Globalization;
using Compression.Core.Diagnostics;
using Compression.Core.Evaluation;
using Compression.Core.Pipeline;
using Compression.Core.Quantization;
using Compression.Core.Recipes;
using Compression.Core.Tests.Corpus;
using Compression.Core.Tests.Support;
using Xunit.Abstractions;

namespace Compression.Core.Tests.Quantization.Recurrent;

/// <summary>
/// The export corpus's LSTM and GRU (PyTorch, batch first over the 28 image rows, hidden 112, opset 14) through the
/// pipeline with the sweep recipes: dynamic int8, static (256 training images calibrate) and 8-bit weight-only, checked
/// on 1,000 Fashion-MNIST test images. W and R are ~97 % of the weights, so the file follows what happens to them.
/// </summary>
public sealed class RecurrentCorpusTests(ITestOutputHelper output) : IDisposable
{
    private readonly string folder = TestAssets.TempDirectory();

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [SkippableTheory]
    [InlineData("lstm", "quantize-dynamic", "LSTM: DynamicQuantizeLSTM", 0.35)]
    [InlineData("gru", "quantize-dynamic", "GRU: 8-bit storage, float compute", 0.35)]
    [InlineData("lstm", "quantize-static", "LSTM: DynamicQuantizeLSTM", 0.35)]
    [InlineData("gru", "quantize-static", "GRU: 8-bit storage, float compute", 0.35)]
    [InlineData("lstm", "quantize-int8", "LSTM: 8-bit storage, float compute", 0.35)]
    [InlineData("gru", "quantize-int8", "GRU: 8-bit storage, float compute", 0.35)]
    public void Recurrent_corpus_models_shrink_and_keep_their_accuracy(string model, string step, string form, double maximumRatio)
    {
        ExportCorpus.RequireData();
        var source = TestAssets.Require(Path.Combine(TestAssets.Corpus, model + ".onnx"), $"the corpus's {model}.onnx");
        var log = new CollectingLog();
        var outputPath = Path.Combine(folder, $"{model}.{step}.onnx");
        var result = CompressionPipeline.Run(new CompressionRequest(source, RecipeParser.Load(Path.Combine(ExportCorpus.SweepFolder, step + ".yaml")))
        {
            OutputPath = outputPath,
        }, log);

        var evaluation = result.Evaluation!;
        var before = evaluation.Reference.Task.Top1!.Value;
        var after = evaluation.Candidate!.Task.Top1!.Value;
        var recurrent = PassHarness.Result<QuantizeResult>(result.Steps.Single()).Recurrent!;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{model} {step}: top-1 {before:P2} -> {after:P2}, file {result.InputSizeBytes} -> {result.OutputSizeBytes} bytes ({result.SizeRatio:F3}x), " +
            $"recurrent weights {recurrent.WeightBytesBefore} -> {recurrent.WeightBytesAfter} bytes"));
        Assert.Equal(form, Assert.Single(recurrent.Forms).Key);
        Assert.True(before - after <= 0.010, $"{model} {step} loses {(before - after) * 100:F1} points (floor 1.0)");
        Assert.True(result.SizeRatio <= maximumRatio, $"{model} {step}: file at {result.SizeRatio:F3}x");
        Assert.Equal(form.EndsWith("float compute", StringComparison.Ordinal), recurrent.Storage is not null);
        using (new ModelRunner(outputPath))
        {
            // The written file loads in ONNX Runtime.
        }
    }
}
