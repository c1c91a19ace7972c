using Compression.Core.Data;
using Compression.Core.Diagnostics;
using Compression.Core.Evaluation;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Passes;
using Compression.Core.Quantization;
using Compression.Core.Quantization.WeightOnly;
using Compression.Core.Tests.Corpus;
using Compression.Core.Tests.Passes;
using Compression.Core.Tests.Quantization.Static;
using Compression.Core.Tests.Support;
using Xunit.Abstractions;
using static Compression.Core.Tests.Passes.GraphBuilder;

namespace Compression.Core.Tests.Quantization.WeightOnly;

/// <summary>
/// Weight-only Convs: blocked integer weights behind DequantizeLinear-21, checked by ONNX Runtime on a model built in
/// code (2-D, depthwise and 1-D Convs) and on real CNNs: mnist-8, ResNet18 and the export corpus's residual CNN.
/// </summary>
public sealed class ConvWeightOnlyTests(ITestOutputHelper output) : IDisposable
{
    private readonly PassHarness harness = new();

    public void Dispose() => harness.Dispose();

    [Theory]
    [InlineData(4, true, WeightOnlyAlgorithm.Rtn, 0.15)]
    [InlineData(4, false, WeightOnlyAlgorithm.Rtn, 0.15)]
    [InlineData(8, true, WeightOnlyAlgorithm.Rtn, 0.015)]
    [InlineData(8, false, WeightOnlyAlgorithm.Rtn, 0.015)]
    [InlineData(4, true, WeightOnlyAlgorithm.Gptq, 0.15)]
    public void Conv_weights_become_blocked_integers_that_onnx_runtime_runs_within_the_quantization_error(int bits, bool symmetric,
        WeightOnlyAlgorithm algorithm, double tolerance)
    {
        var model = WeightOnlyModels.Convs();
        var inputs = WeightOnlyModels.ConvInputs();
        var expected = OrtFloatRunner.Run(model, harness.Temp, inputs);
        var log = new CollectingLog();
        var random = DataSourceFactory.Create(new DataSetSpec { Format = DataFormat.Random, Count = 16 }, harness.Temp);
        var options = new QuantizeOptions
        {
            Mode = QuantizationMode.WeightOnly,
            Bits = bits,
            OutputLayerBits = bits,
            Symmetric = symmetric,
            Algorithm = algorithm,
            Calibration = algorithm == WeightOnlyAlgorithm.Gptq ? new CalibrationSpec { Data = "random", BatchSize = 4 } : null,
        };
        var context = new PassContext(log) { DataSets = new Dictionary<string, IDataSource> { ["random"] = random } };

        var result = new WeightOnlyQuantizer().Quantize(model, options, context);

        Assert.DoesNotContain(GraphChecker.Check(result.Model), d => d.Severity == DiagnosticSeverity.Error);
        Assert.Empty(log.Diagnostics);
        Assert.Equal(3, PassHarness.Result<WeightOnlyQuantizeResult>(result).QuantizedConv);
        Assert.Equal(algorithm.ToString().ToLowerInvariant(), PassHarness.Result<WeightOnlyQuantizeResult>(result).Algorithm);
        Assert.Equal(21, result.Model.OpsetVersion(""));
        Assert.Null(result.Model.OpsetVersion("com.microsoft"));
        var graph = result.Model.Proto.Graph;
        var dequantize = graph.Node.Where(n => n.OpType == "DequantizeLinear").ToList();
        Assert.Equal(3, dequantize.Count);
        Assert.All(dequantize, d => Assert.Equal(1, d.Attribute.Single(a => a.Name == "axis").I));
        // Block 64 capped to the 9 values of a depthwise channel.
        Assert.Equal([64, 9, 60], dequantize.Select(d => d.Attribute.Single(a => a.Name == "block_size").I));
        var codes = graph.Initializer.Single(t => t.Name == dequantize[0].Input[0]);
        Assert.Equal((bits, symmetric) switch { (4, true) => ElementType.Int4, (4, false) => ElementType.UInt4, (8, true) => ElementType.Int8, _ => ElementType.UInt8 },
            TensorCodec.ElementTypeOf(codes));
        Assert.Equal([16L, 72], codes.Dims);
        Assert.Equal(symmetric ? 2 : 3, dequantize[0].Input.Count);
        Assert.DoesNotContain(graph.Initializer, t => t.Name is "w_conv" or "w_depthwise" or "w_conv1d");
        Assert.Empty(graph.Node.Single(n => n.OpType == "ReduceMean").Attribute);
        Assert.True(PassHarness.Result<WeightOnlyQuantizeResult>(result).WeightBytesAfter * (bits == 4 ? 4 : 2) < PassHarness.Result<WeightOnlyQuantizeResult>(result).WeightBytesBefore);

        var actual = OrtFloatRunner.Run(result.Model, harness.Temp, inputs);
        for (var i = 0; i < expected.Count; i++)
        {
            var error = WeightOnlyQuantizerTests.RelativeError(expected[i], actual[i]);
            output.WriteLine($"output {i}: max |error| / max |value| = {error:F4}");
            Assert.True(error < tolerance, $"Output {i} is off by {error:F4} (allowed {tolerance}) at {bits} bits, symmetric {symmetric}, {algorithm}.");
        }
    }

    [Fact]
    public void Convs_stay_in_float_with_a_warning_when_an_op_cannot_move_to_opset_21()
    {
        var model = WeightOnlyModels.Convs();
        var scales = TensorCodec.FromSingle("scales", [4], [1, 1, 2, 2], ElementType.Float);
        model.Proto.Graph.Initializer.Add(scales);
        model.Proto.Graph.Node.Add(Node("Upsample", ["y_depthwise", "scales"], ["y_upsampled"], "upsample"));
        model.Proto.Graph.Output.Add(Value("y_upsampled", ElementType.Float, 2, 16, 20, 20));
        model.Proto.OpsetImport[0].Version = 9;
        var log = new CollectingLog();

        var result = new WeightOnlyQuantizer().Quantize(model, new QuantizeOptions { Mode = QuantizationMode.WeightOnly }, new PassContext(log));

        var warning = Assert.Single(log.Diagnostics, d => d.Code == ErrorCodes.NodeLeftInFloat);
        output.WriteLine(warning.Message);
        Assert.Contains("3 Conv(s) stay in float", warning.Message, StringComparison.Ordinal);
        Assert.Contains("Upsample", warning.Message, StringComparison.Ordinal);
        Assert.Equal(ErrorCodes.NothingQuantized, Assert.Single(log.Diagnostics, d => d.Severity == DiagnosticSeverity.Warning && d != warning).Code);
        Assert.Equal(9, result.Model.OpsetVersion(""));
        Assert.DoesNotContain(result.Model.Proto.Graph.Node, n => n.OpType == "DequantizeLinear");
        Assert.Contains(result.Model.Proto.Graph.Initializer, t => t.Name == "w_conv");
    }

    [Fact]
    public void A_conv_whose_blocked_weight_would_not_be_smaller_stays_in_float_with_one_warning()
    {
        // One value per output channel: half a byte of code and four of scale against four of float.
        var pointwise = Node("Conv", ["x", "w"], ["y"], "pointwise");
        var model = Model([pointwise], [Value("x", ElementType.Float, 1, 1, 4, 4)], [Value("y", ElementType.Float, 1, 6, 4, 4)],
            [WeightOnlyModels.Tensor("w", new Random(1), 6, 1, 1, 1)]);
        var log = new CollectingLog();

        var result = new WeightOnlyQuantizer().Quantize(model, new QuantizeOptions { Mode = QuantizationMode.WeightOnly }, new PassContext(log));

        var warning = Assert.Single(log.Diagnostics, d => d.Code == ErrorCodes.NodeLeftInFloat);
        Assert.Contains("'pointwise' (Conv) (1 weights per output channel)", warning.Message, StringComparison.Ordinal);
        Assert.Equal(0, PassHarness.Result<WeightOnlyQuantizeResult>(result).QuantizedConv);
        Assert.Equal(17, result.Model.OpsetVersion(""));
    }

    /// <summary>mnist-8 (opset 8) in 4-bit weight-only: its two Convs were left in float before (0.997x); now they shrink too.</summary>
    [SkippableFact]
    public void Mnist_in_4_bit_weight_only_is_smaller_and_keeps_its_accuracy()
    {
        var source = TestAssets.Require(TestAssets.Mnist, "mnist-8");
        var options = new QuantizeOptions { Mode = QuantizationMode.WeightOnly, Bits = 4 };
        var log = new CollectingLog();
        var matMulOnly = harness.Save(new WeightOnlyQuantizer().Quantize(ModelLoader.Load(source), options with { Exclude = ["Conv"] }, new PassContext(log)).Model);
        var result = new WeightOnlyQuantizer().Quantize(ModelLoader.Load(source), options, new PassContext(log));
        var path = harness.Save(result.Model);

        var report = Evaluator.Evaluate(source, path, StaticTestData.Mnist(null), new EvaluationOptions(), log);
        var (top1, reference) = (report.Candidate!.Task.Top1!.Value, report.Reference.Task.Top1!.Value);
        var (size, before, original) = (new FileInfo(path).Length, new FileInfo(matMulOnly).Length, new FileInfo(source).Length);
        output.WriteLine($"mnist-8 4-bit: top-1 {top1:P2} (fp32 {reference:P2}), {size} bytes ({(double)size / original:F3}x; MatMul only {before} bytes, " +
            $"{(double)before / original:F3}x); stats {result.Result}; " +
            $"warnings {string.Join(" | ", log.Diagnostics.Select(d => d.Message))}");
        Assert.Equal(2, PassHarness.Result<WeightOnlyQuantizeResult>(result).QuantizedConv);
        Assert.True(size < before, $"{size} bytes against {before} with the Convs in float");
        Assert.True(top1 >= reference - 0.01, $"top-1 {top1:P2} against {reference:P2}");
    }

    /// <summary>
    /// ResNet18 (ML.NET's export, opset 8, BatchNormalization unfolded) with RTN, no data: features on the photos. 8 bits
    /// shows the layout is exact; 4 bits is what round-to-nearest gives at 0.14x (GPTQ needs more than seven photos).
    /// </summary>
    [SkippableTheory]
    [InlineData(8, 0.99, 0.30)]
    [InlineData(4, 0.80, 0.16)]
    public void ResNet18_in_weight_only_keeps_its_features(int bits, double minCosine, double maxRatio)
    {
        Skip.IfNot(Environment.GetEnvironmentVariable("COMPRESSION_LONG_TESTS") == "1", "Long test (ResNet18 on the photos): set COMPRESSION_LONG_TESTS=1 to run it.");
        var source = TestAssets.Require(TestAssets.ResNet18, "ResNet18");
        var log = new CollectingLog();
        var result = new WeightOnlyQuantizer().Quantize(ModelLoader.Load(source), new QuantizeOptions { Mode = QuantizationMode.WeightOnly, Bits = bits },
            new PassContext(log));
        var path = harness.Save(result.Model);

        var fidelity = Evaluator.Evaluate(source, path, StaticTestData.Photos(), new EvaluationOptions { BatchSize = 1 }, log).Fidelity[0];
        var ratio = (double)new FileInfo(path).Length / new FileInfo(source).Length;
        output.WriteLine($"ResNet18 {bits}-bit: cosine {fidelity.Cosine:F5}, sqnr {fidelity.SqnrDb:F1} dB, size ratio {ratio:F4}; " +
            $"stats {result.Result}; warnings {string.Join(" | ", log.Diagnostics.Select(d => d.Message))}");
        Assert.Equal(22, PassHarness.Result<WeightOnlyQuantizeResult>(result).QuantizedConv);
        Assert.True(ratio <= maxRatio, $"size ratio {ratio}");
        Assert.True(fidelity.Cosine >= minCosine, $"cosine {fidelity.Cosine}");
    }

    /// <summary>
    /// The issue's floor: the export corpus's residual CNN (PyTorch, opset 12, BatchNorm folded) in 4-bit weight-only
    /// with GPTQ on 256 Fashion-MNIST training images is at most 0.35x and within 1 point of fp32 on 1,000 test images.
    /// </summary>
    [SkippableFact]
    public void The_residual_cnn_in_4_bit_weight_only_is_a_third_of_the_file_within_a_point()
    {
        var source = TestAssets.Require(Path.Combine(TestAssets.Corpus, "residual_cnn.onnx"), "The export corpus's residual CNN");
        ExportCorpus.RequireData();
        var log = new CollectingLog();
        var context = new PassContext(log) { DataSets = new Dictionary<string, IDataSource> { ["train"] = FashionMnist("train", 256) } };
        var options = new QuantizeOptions { Mode = QuantizationMode.WeightOnly, Bits = 4, Calibration = new CalibrationSpec { Data = "train", Samples = 256 } };
        var result = new WeightOnlyQuantizer().Quantize(ModelLoader.Load(source), options, context);
        var path = harness.Save(result.Model);

        var report = Evaluator.Evaluate(source, path, FashionMnist("t10k", 1000), new EvaluationOptions(), log);
        var (top1, reference) = (report.Candidate!.Task.Top1!.Value, report.Reference.Task.Top1!.Value);
        var ratio = (double)new FileInfo(path).Length / new FileInfo(source).Length;
        output.WriteLine($"residual_cnn 4-bit gptq: top-1 {top1:P2} (fp32 {reference:P2}), size ratio {ratio:F4}; " +
            $"stats {result.Result}; warnings {string.Join(" | ", log.Diagnostics.Select(d => d.Message))}");
        Assert.Equal("gptq", PassHarness.Result<WeightOnlyQuantizeResult>(result).Algorithm);
        Assert.True(ratio <= 0.35, $"size ratio {ratio}");
        Assert.True(top1 >= reference - 0.01, $"top-1 {top1:P2} against {reference:P2}");
    }

    private static IDataSource FashionMnist(string split, long take) => DataSourceFactory.Create(new DataSetSpec
    {
        Format = DataFormat.Idx,
        Path = $"{split}-images-idx3-ubyte.gz",
        Labels = $"{split}-labels-idx1-ubyte.gz",
        Scale = 1 / 255.0,
        Take = take,
        Name = $"fashion-mnist-{split}",
    }, TestAssets.FashionMnist);
}
