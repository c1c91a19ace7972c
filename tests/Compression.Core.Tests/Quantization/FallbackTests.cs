using Compression.Core.Data;
using Compression.Core.Diagnostics;
using Compression.Core.Evaluation;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Passes;
using Compression.Core.Quantization;
using Compression.Core.Tests.Quantization.Static;
using Compression.Core.Tests.Support;
using Xunit.Abstractions;

namespace Compression.Core.Tests.Quantization;

/// <summary>
/// Per-layer sensitivity and fallback in the dynamic and weight-only modes (static mode has its own tests): mnist-8's
/// classifier MatMul in dynamic mode, the PaddleOCR direction classifier's (weights in Constant nodes) in weight-only mode.
/// </summary>
public sealed class FallbackTests(ITestOutputHelper output) : IDisposable
{
    private readonly PassHarness harness = new();

    public void Dispose() => harness.Dispose();

    [SkippableTheory]
    [InlineData(QuantizationMode.Dynamic, "DynamicQuantizeMatMul")]
    [InlineData(QuantizationMode.WeightOnly, "MatMulNBits")]
    public void An_unreachable_target_returns_the_most_sensitive_layer_to_float(QuantizationMode mode, string quantizedOp)
    {
        var (source, data) = ModelAndData(mode);
        var result = Quantize(source, data, mode, new FallbackSpec { Target = 200, MaxLayers = 1 });

        var sensitivity = PassHarness.Result<QuantizeResult>(result).Fallback!.Sensitivity;
        output.WriteLine($"{mode}: sensitivity (SQNR dB, quantized alone) {string.Join(", ", sensitivity.Select(s => $"{s.Key} {s.Value}"))}");
        Assert.NotEmpty(sensitivity);
        var worst = sensitivity.Keys.First();
        Assert.Equal([worst], PassHarness.Result<QuantizeResult>(result).Fallback!.FallbackLayers);
        Assert.Contains(result.Model.Proto.Graph.Node, n => n.Name == worst && n.OpType is "MatMul" or "Gemm" or "Conv" && !IsQuantized(result.Model, n, quantizedOp)); // left float, as it was
        Assert.Equal(sensitivity.Count - 1, result.Model.Proto.Graph.Node.Count(n => IsQuantized(result.Model, n, quantizedOp)));
        Assert.Contains(harness.Log.Diagnostics, d => d.Code == ErrorCodes.QuantizationFallback && d.Message.Contains(worst, StringComparison.Ordinal));
    }

    [SkippableTheory]
    [InlineData(QuantizationMode.Dynamic, "DynamicQuantizeMatMul")]
    [InlineData(QuantizationMode.WeightOnly, "MatMulNBits")]
    public void A_target_already_met_keeps_every_layer_quantized_and_the_result_runs(QuantizationMode mode, string quantizedOp)
    {
        var (source, data) = ModelAndData(mode);
        var result = Quantize(source, data, mode, new FallbackSpec { Target = 10 });

        var sensitivity = PassHarness.Result<QuantizeResult>(result).Fallback!.Sensitivity;
        Assert.All(sensitivity.Values, v => Assert.True(Convert.ToDouble(v, System.Globalization.CultureInfo.InvariantCulture) >= 10));
        Assert.Empty(PassHarness.Result<QuantizeResult>(result).Fallback!.FallbackLayers);
        Assert.Equal(sensitivity.Count, result.Model.Proto.Graph.Node.Count(n => IsQuantized(result.Model, n, quantizedOp)));
        Assert.DoesNotContain(harness.Log.Diagnostics, d => d.Code == ErrorCodes.QuantizationFallback && d.Message.StartsWith("Fallback", StringComparison.Ordinal));
        var report = Evaluator.Evaluate(source, harness.Save(result.Model), data, new EvaluationOptions { BatchSize = 1 }, new CollectingLog());
        Assert.True(report.Fidelity[0].SqnrDb >= 10, $"SQNR {report.Fidelity[0].SqnrDb:F1} dB");
    }

    /// <summary>A quantized layer: the mode's op, or (weight-only) a Conv that keeps its node and reads its weight through DequantizeLinear.</summary>
    private static bool IsQuantized(OnnxModel model, NodeProto node, string quantizedOp) =>
        node.OpType == quantizedOp || node.OpType == "Conv" && model.MainGraph.Producer(node.Input[1])?.OpType is "DequantizeLinear" or "Reshape";

    [SkippableFact]
    public void Fallback_without_calibration_data_is_refused()
    {
        var source = TestAssets.Require(TestAssets.Mnist, "mnist-8");
        var options = new QuantizeOptions { Mode = QuantizationMode.Dynamic, Fallback = new FallbackSpec() };

        var error = Assert.Throws<CompressionException>(() => new QuantizePass().Run(ModelLoader.Load(source), options, new PassContext(harness.Log)));

        Assert.Equal(ErrorCodes.CalibrationDataMissing, error.Code);
    }

    /// <summary>Agreement is a figure of class scores: on a model whose output is an embedding it cannot guide fallback, and says so.</summary>
    [SkippableFact]
    public void Agreement_on_a_model_without_class_scores_is_CMP3211()
    {
        var model = ModelLoader.Load(TestAssets.Require(TestAssets.Mnist, "mnist-8"));
        var graphOutput = model.Proto.Graph.Output[0];
        foreach (var node in model.Proto.Graph.Node)
        {
            for (var i = 0; i < node.Output.Count; i++)
            {
                node.Output[i] = node.Output[i] == graphOutput.Name ? "image_embedding" : node.Output[i];
            }
        }

        graphOutput.Name = "image_embedding";
        var source = harness.Save(model);

        var error = Assert.Throws<CompressionException>(() => Quantize(source, StaticTestData.Mnist(64), QuantizationMode.Dynamic,
            new FallbackSpec { Metric = FallbackMetric.Agreement, Target = 99 }));

        Assert.Equal(ErrorCodes.FallbackMetricNotApplicable, error.Code);
        Assert.Contains("image_embedding", error.Message, StringComparison.Ordinal);
    }

    private static (string Source, IDataSource Data) ModelAndData(QuantizationMode mode) => mode == QuantizationMode.Dynamic
        ? (TestAssets.Require(TestAssets.Mnist, "mnist-8"), StaticTestData.Mnist(64))
        : (TestAssets.Require(TestAssets.PaddleOcr("ch_ppocr_mobile_v2.0_cls_infer.onnx"), "PaddleOCR cls"), StaticTestData.Photos(resize: "192x48", crop: null, imageNet: false));

    private PassResult Quantize(string source, IDataSource data, QuantizationMode mode, FallbackSpec fallback)
    {
        var options = new QuantizeOptions
        {
            Mode = mode,
            Bits = 4,
            BlockSize = 16,
            Fallback = fallback,
            Calibration = new CalibrationSpec { Data = StaticTestData.Calibration, Samples = 64 },
        };
        var context = new PassContext(harness.Log) { DataSets = new Dictionary<string, IDataSource> { [StaticTestData.Calibration] = data } };
        return new QuantizePass().Run(ModelLoader.Load(source), options, context);
    }
}
