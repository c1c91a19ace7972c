using Compression.Core.Diagnostics;
using Compression.Core.Evaluation;
using Compression.Core.Onnx;
using Compression.Core.Quantization;
using Compression.Core.Tests.Support;
using Xunit.Abstractions;

namespace Compression.Core.Tests.Quantization.Static;

/// <summary>mnist-8 calibrated on the first 256 test images and evaluated on all 10,000 (fp32: 98.90 %).</summary>
public sealed class MnistStaticTests(ITestOutputHelper output) : IDisposable
{
    private readonly PassHarness harness = new();

    public void Dispose() => harness.Dispose();

    [SkippableTheory]
    [InlineData(QuantizationFormat.Qdq, true)]
    [InlineData(QuantizationFormat.QOperator, true)]
    [InlineData(QuantizationFormat.Qdq, false)]
    [InlineData(QuantizationFormat.QOperator, false)]
    public void Static_int8_keeps_accuracy_in_under_13_KB(QuantizationFormat format, bool perChannel)
    {
        var source = TestAssets.Require(TestAssets.Mnist, "mnist-8");
        var log = new CollectingLog();
        var result = StaticTestData.Quantize(ModelLoader.Load(source), StaticTestData.Options(format, perChannel), StaticTestData.Mnist(256), log);
        var path = harness.Save(result.Model);

        var report = Evaluator.Evaluate(source, path, StaticTestData.Mnist(null), new EvaluationOptions(), log);
        var top1 = report.Candidate!.Task.Top1!.Value;
        var size = new FileInfo(path).Length;
        output.WriteLine($"{format} per-channel={perChannel}: top-1 {top1:P2}, {size} bytes, agreement {report.Fidelity[0].Agreement:P2}, sqnr {report.Fidelity[0].SqnrDb:F1} dB; stats {result.Result}");
        Assert.Equal(10_000, report.Candidate.Task.Samples);
        Assert.True(top1 >= 0.9885, $"top-1 {top1:P2}");
        Assert.True(size <= 13_312, $"{size} bytes");
    }

    /// <summary>GPTQ rounding of the weights (algorithm: gptq) keeps the accuracy, with integer operators too.</summary>
    [SkippableTheory]
    [InlineData(QuantizationFormat.Qdq, QuantizedType.U8)]
    [InlineData(QuantizationFormat.QOperator, QuantizedType.U8)]
    [InlineData(QuantizationFormat.Qdq, QuantizedType.U16)]
    public void Gptq_rounding_keeps_accuracy(QuantizationFormat format, QuantizedType activations)
    {
        var source = TestAssets.Require(TestAssets.Mnist, "mnist-8");
        var log = new CollectingLog();
        var options = StaticTestData.Options(format) with { ActivationType = activations, Algorithm = WeightOnlyAlgorithm.Gptq };
        var result = StaticTestData.Quantize(ModelLoader.Load(source), options, StaticTestData.Mnist(256), log);
        var path = harness.Save(result.Model);

        var report = Evaluator.Evaluate(source, path, StaticTestData.Mnist(null), new EvaluationOptions(), log);
        var top1 = report.Candidate!.Task.Top1!.Value;
        output.WriteLine($"gptq {format} {activations}: top-1 {top1:P2}, agreement {report.Fidelity[0].Agreement:P2}, sqnr {report.Fidelity[0].SqnrDb:F1} dB");
        Assert.Equal("gptq", PassHarness.Result<StaticQuantizeResult>(result).Algorithm);
        Assert.True(top1 >= 0.9885, $"top-1 {top1:P2}");
    }

    /// <summary>Entropy clips the ReLU outputs of this small network hardest (98.74 %): its floor is lower, on purpose and in view.</summary>
    [SkippableTheory]
    [InlineData(CalibrationMethod.Percentile, QuantizedType.U8, 0.9885)]
    [InlineData(CalibrationMethod.Entropy, QuantizedType.U8, 0.985)]
    [InlineData(CalibrationMethod.Mse, QuantizedType.U8, 0.9885)]
    [InlineData(CalibrationMethod.MinMax, QuantizedType.S8, 0.9885)]
    [InlineData(CalibrationMethod.MinMax, QuantizedType.U16, 0.9885)]
    public void Other_calibrations_and_activation_types_keep_accuracy(CalibrationMethod method, QuantizedType activations, double minimumTop1)
    {
        var source = TestAssets.Require(TestAssets.Mnist, "mnist-8");
        var log = new CollectingLog();
        var options = StaticTestData.Options(QuantizationFormat.Qdq, method: method) with { ActivationType = activations };
        var result = StaticTestData.Quantize(ModelLoader.Load(source), options, StaticTestData.Mnist(256), log);
        var path = harness.Save(result.Model);

        var top1 = Evaluator.Evaluate(source, path, StaticTestData.Mnist(null), new EvaluationOptions(), log).Candidate!.Task.Top1!.Value;
        output.WriteLine($"{method} {activations}: top-1 {top1:P2}, {new FileInfo(path).Length} bytes, Q/DQ domain {PassHarness.Result<StaticQuantizeResult>(result).QdqDomain}");
        // Without VNNI, ONNX Runtime's x86 int8 kernels add pairs of products in 16 bits (vpmaddubsw), which saturate
        // with signed activations: 98.15 % on an AVX2 machine without VNNI, where this floor was measured with it.
        var floor = activations == QuantizedType.S8 && !System.Runtime.Intrinsics.X86.AvxVnni.IsSupported ? 0.98 : minimumTop1;
        Assert.True(top1 >= floor, $"top-1 {top1:P2}");
        Assert.Equal(activations == QuantizedType.U16 ? "com.microsoft" : "ai.onnx", PassHarness.Result<StaticQuantizeResult>(result).QdqDomain);
    }

    [SkippableFact]
    public void Fallback_ranks_layers_by_sensitivity_and_returns_the_worst_to_float()
    {
        var source = TestAssets.Require(TestAssets.Mnist, "mnist-8");
        var log = new CollectingLog();
        // An unreachable SQNR target: the fallback spends its two layers and says the target was not reached.
        var options = StaticTestData.Options(QuantizationFormat.Qdq) with { Fallback = new FallbackSpec { Target = 200, MaxLayers = 2 } };
        var result = StaticTestData.Quantize(ModelLoader.Load(source), options, StaticTestData.Mnist(256), log);

        var sensitivity = PassHarness.Result<QuantizeResult>(result).Fallback!.Sensitivity;
        var returned = PassHarness.Result<QuantizeResult>(result).Fallback!.FallbackLayers;
        output.WriteLine($"sensitivity (SQNR dB, quantized alone): {string.Join(", ", sensitivity.Select(s => $"{s.Key} {s.Value}"))}; returned {string.Join(", ", returned)}");
        Assert.Equal(3, sensitivity.Count); // the two Convs and the Gemm (MaxPool and Reshape only carry scales)
        // 8-bit activations: the fallback widens layers to 16 bits first, then returns to float in their 16-bit order.
        var ranking = PassHarness.Result<QuantizeResult>(result).Fallback!.WideSensitivity ?? sensitivity;
        Assert.Equal(ranking.Keys.Take(2), returned);
        var warning = Assert.Single(log.Diagnostics, d => d.Code == ErrorCodes.QuantizationFallback);
        Assert.Contains("not reached", warning.Message, StringComparison.Ordinal);
        // Left quantized: the first Conv. The MaxPool after it runs on the float values, as everything after it does:
        // kept on integers it would only add a QuantizeLinear/DequantizeLinear pair before float readers.
        Assert.Equal(1, PassHarness.Result<StaticQuantizeResult>(result).QuantizedNodes);
        // A layer returned to float reads the float value: after a DequantizeLinear, ONNX Runtime would quantize its weight at load.
        var graph = result.Model.MainGraph;
        foreach (var layer in returned)
        {
            var node = graph.Nodes.Single(n => n.Name == layer);
            Assert.NotEqual("DequantizeLinear", graph.Producer(node.Input[0])?.OpType);
        }
    }

    [SkippableFact]
    public void Fallback_gives_the_sensitive_layers_16_bit_activations_before_float()
    {
        var source = TestAssets.Require(TestAssets.Mnist, "mnist-8");
        var log = new CollectingLog();
        // Unreachable, and no layer may return to float: every layer ends with 16-bit activations and int8 weights.
        var options = StaticTestData.Options(QuantizationFormat.Qdq) with { Fallback = new FallbackSpec { Target = 200, MaxLayers = 0 } };
        var result = StaticTestData.Quantize(ModelLoader.Load(source), options, StaticTestData.Mnist(256), log);
        var path = harness.Save(result.Model);

        Assert.Equal(3, PassHarness.Result<QuantizeResult>(result).Fallback!.WideLayers);
        var graph = result.Model.MainGraph;
        var wide = graph.Nodes.Where(n => n.OpType == "QuantizeLinear" && n.Domain == "com.microsoft").ToList();
        Assert.NotEmpty(wide);
        Assert.All(wide, q => Assert.Equal(Core.Onnx.Tensors.ElementType.UInt16, Core.Onnx.Tensors.TensorCodec.ElementTypeOf(graph.Initializer(q.Input[2])!)));
        Assert.Contains(graph.Nodes, n => n.OpType == "DequantizeLinear" && graph.Initializer(n.Input[0]) is { } w
            && Core.Onnx.Tensors.TensorCodec.ElementTypeOf(w) == Core.Onnx.Tensors.ElementType.Int8);
        var top1 = Evaluator.Evaluate(source, path, StaticTestData.Mnist(1000), new EvaluationOptions(), log).Candidate!.Task.Top1!.Value;
        output.WriteLine($"all layers 16-bit activations: top-1 {top1:P2} on the first 1,000; {string.Join(" | ", log.Diagnostics.Select(d => d.Message))}");
        Assert.True(top1 >= 0.98, $"top-1 {top1:P2}");
        Assert.Contains("16-bit activations", Assert.Single(log.Diagnostics, d => d.Code == ErrorCodes.QuantizationFallback).Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void After_widening_the_float_stage_ranks_widened_layers_by_their_16_bit_sensitivity()
    {
        var source = TestAssets.Require(TestAssets.Mnist, "mnist-8");
        var options = StaticTestData.Options(QuantizationFormat.Qdq) with { Fallback = new FallbackSpec { Target = 200, MaxLayers = 1 } };

        var result = StaticTestData.Quantize(ModelLoader.Load(source), options, StaticTestData.Mnist(256), new CollectingLog());

        var eightBit = PassHarness.Result<QuantizeResult>(result).Fallback!.Sensitivity;
        var sixteenBit = PassHarness.Result<QuantizeResult>(result).Fallback!.WideSensitivity!;
        output.WriteLine(string.Join(", ", sixteenBit.Select(s => $"{s.Key}: {eightBit[s.Key]} -> {s.Value} dB")));
        Assert.Equal(eightBit.Keys.Order(), sixteenBit.Keys.Order());
        Assert.All(sixteenBit, s => Assert.True((double)s.Value > (double)eightBit[s.Key], $"{s.Key}: 16-bit {s.Value} dB, 8-bit {eightBit[s.Key]} dB"));
        // The one layer returned to float is the one that loses most in the form it has (16-bit), listed first.
        Assert.Equal(sixteenBit.Keys.First(), Assert.Single(PassHarness.Result<QuantizeResult>(result).Fallback!.FallbackLayers));
    }
}
