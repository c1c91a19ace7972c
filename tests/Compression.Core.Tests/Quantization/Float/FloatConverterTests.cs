using Compression.Core.Diagnostics;
using Compression.Core.Evaluation;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Passes;
using Compression.Core.Quantization;
using Compression.Core.Quantization.Float;
using Compression.Core.Tests.Passes;
using Compression.Core.Tests.Support;
using Xunit.Abstractions;

namespace Compression.Core.Tests.Quantization.Float;

public sealed class FloatConverterTests(ITestOutputHelper output) : IDisposable
{
    private readonly PassHarness harness = new();

    public void Dispose() => harness.Dispose();

    [SkippableFact]
    public void MiniLm_in_float16_keeps_the_float32_spearman()
    {
        var path = TestAssets.Require(TestAssets.MiniLm, "all-MiniLM-L6-v2");
        var result = Convert(ModelLoader.Load(path), ElementType.Float16, new QuantizeOptions { Mode = QuantizationMode.Float16 });
        var converted = QuantizationAssets.SaveBesideVocab(result.Model, path, harness.Temp, "fp16");

        var report = QuantizationAssets.Stsb(path, converted);
        var spearman = report.Candidate!.Task.Spearman!.Value * 100;
        var size = new FileInfo(converted).Length;
        output.WriteLine($"fp16 MiniLM: Spearman {spearman:F3}, {size / 1e6:F2} MB, {PassHarness.Result<FloatQuantizeResult>(result).CastsInserted} Casts, blocked {Blocked(result)}");
        Assert.InRange(spearman, 82.03 - 0.011, 82.03 + 0.019);
        Assert.InRange(size, 44_000_000, 47_000_000);
    }

    [SkippableFact]
    public void MiniLm_storage_only_halves_the_file_and_computes_in_float32()
    {
        var path = TestAssets.Require(TestAssets.MiniLm, "all-MiniLM-L6-v2");
        var result = Convert(ModelLoader.Load(path), ElementType.Float16, new QuantizeOptions { Mode = QuantizationMode.Float16, StorageOnly = true });
        var converted = QuantizationAssets.SaveBesideVocab(result.Model, path, harness.Temp, "storage");

        var report = QuantizationAssets.Stsb(path, converted);
        var spearman = report.Candidate!.Task.Spearman!.Value * 100;
        var ratio = (double)new FileInfo(converted).Length / new FileInfo(path).Length;
        output.WriteLine($"storage-only fp16 MiniLM: Spearman {spearman:F3}, size ratio {ratio:F3}, {PassHarness.Result<FloatQuantizeResult>(result).StoredInitializers} weights");
        Assert.InRange(ratio, 0.49, 0.52);
        Assert.InRange(spearman, 82.0, 82.06);
        Assert.All(result.Model.Proto.Graph.Node.Where(n => n.OpType != "Cast"), n => Assert.NotEqual("Float16", n.OpType));
    }

    [SkippableFact]
    public void MiniLm_in_bfloat16_loads_and_runs()
    {
        var path = TestAssets.Require(TestAssets.MiniLm, "all-MiniLM-L6-v2");
        var result = Convert(ModelLoader.Load(path), ElementType.BFloat16, new QuantizeOptions { Mode = QuantizationMode.BFloat16 });
        var converted = QuantizationAssets.SaveBesideVocab(result.Model, path, harness.Temp, "bf16");

        var report = QuantizationAssets.Stsb(path, converted);
        var spearman = report.Candidate!.Task.Spearman!.Value * 100;
        output.WriteLine($"bf16 MiniLM: Spearman {spearman:F3}, {new FileInfo(converted).Length / 1e6:F2} MB, blocked {Blocked(result)}, " +
            $"found without kernels: {string.Join(", ", PassHarness.Result<FloatQuantizeResult>(result).BlockedAtLoad!)}");
        Assert.InRange(spearman, 81.0, 83.0);
    }

    [SkippableFact]
    public void ResNet18_in_float16_keeps_its_features()
    {
        var path = TestAssets.Require(TestAssets.ResNet18, "ResNet18 (NuGet Microsoft.ML.DnnImageFeaturizer.ResNet18)");
        var result = Convert(ModelLoader.Load(path), ElementType.Float16, new QuantizeOptions { Mode = QuantizationMode.Float16 });
        var converted = harness.Save(result.Model);

        var report = Evaluator.Evaluate(path, converted, QuantizationAssets.Photos(), new EvaluationOptions { BatchSize = 1 }, new CollectingLog());
        var cosine = report.Fidelity.Single().Cosine;
        output.WriteLine($"fp16 ResNet18: cosine {cosine:F6} on the photos, " +
            $"{new FileInfo(converted).Length / 1e6:F1} MB from {new FileInfo(path).Length / 1e6:F1} MB");
        Assert.True(cosine >= 0.999, $"Cosine {cosine}.");
    }

    [SkippableFact]
    public void PaddleOcr_models_in_float16_keep_their_predictions()
    {
        foreach (var file in TestAssets.PaddleOcrModels)
        {
            var path = TestAssets.Require(TestAssets.PaddleOcr(file), $"PaddleOCR {file}");
            var reference = ModelLoader.Load(path);
            PassHarness.ExposeSigmoidLogits(reference);
            var exposed = ModelLoader.Load(path);
            PassHarness.ExposeSigmoidLogits(exposed);
            var result = Convert(exposed, ElementType.Float16, new QuantizeOptions { Mode = QuantizationMode.Float16 });

            foreach (var fidelity in OutputFidelity.Compare(reference, result.Model, harness.Temp, inputs: 8))
            {
                output.WriteLine($"fp16 {file} {fidelity.Output}: {fidelity.Metric} {fidelity.Value:F4}; blocked {Blocked(result)}; {PassHarness.Result<FloatQuantizeResult>(result).CastsInserted} Casts");
                Assert.True(fidelity.Value >= 0.99, $"{file} {fidelity.Output}: {fidelity.Metric} {fidelity.Value}.");
            }
        }
    }

    [Fact]
    public void Blocked_neighbours_share_float32_and_no_cast_reads_a_cast()
    {
        var model = GraphBuilder.Model(
            [
                GraphBuilder.Node("Relu", ["x"], ["r"]),
                GraphBuilder.Node("Sigmoid", ["r"], ["s1"]),
                GraphBuilder.Node("Sigmoid", ["s1"], ["s2"]),
                GraphBuilder.Node("Add", ["s2", "w"], ["y"]),
            ],
            [GraphBuilder.Value("x", ElementType.Float, 2, 4)],
            [GraphBuilder.Value("y", ElementType.Float, 2, 4)],
            [TensorCodec.FromSingle("w", [4], [1f, 2f, 3f, 4f], ElementType.Float)]);
        var result = Convert(model, ElementType.Float16, new QuantizeOptions { Mode = QuantizationMode.Float16, OpBlockList = ["Sigmoid"] });
        var graph = result.Model.MainGraph;
        var nodes = result.Model.Proto.Graph.Node;
        foreach (var cast in nodes.Where(n => n.OpType == "Cast"))
        {
            Assert.NotEqual("Cast", graph.Producer(cast.Input[0])?.OpType);
        }

        // Input (float32) -> Relu (fp16) -> Sigmoid, Sigmoid (blocked, float32 between them) -> Add (fp16) -> output (float32).
        Assert.Equal(4, nodes.Count(n => n.OpType == "Cast"));
        var sigmoids = nodes.Where(n => n.OpType == "Sigmoid").ToList();
        Assert.Equal(sigmoids[0].Output[0], sigmoids[1].Input[0]);
        Assert.Equal((int)ElementType.Float, result.Model.Proto.Graph.Output[0].Type.TensorType.ElemType);
        Assert.Equal((int)ElementType.Float16, result.Model.Proto.Graph.Initializer.Single().DataType);
    }

    private PassResult Convert(OnnxModel model, ElementType target, QuantizeOptions options) =>
        new FloatConverter(target).Quantize(model, options, new PassContext(harness.Log));

    private static string Blocked(PassResult result) =>
        string.Join(", ", PassHarness.Result<FloatQuantizeResult>(result).BlockedNodes!.Select(b => $"{b.Key} x{b.Value}"));
}
