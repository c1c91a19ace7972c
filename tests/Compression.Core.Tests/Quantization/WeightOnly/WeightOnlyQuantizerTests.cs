using Compression.Core.Data;
using Compression.Core.Diagnostics;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Passes;
using Compression.Core.Quantization;
using Compression.Core.Quantization.WeightOnly;
using Compression.Core.Tests.Passes;
using Compression.Core.Tests.Support;
using Xunit.Abstractions;

namespace Compression.Core.Tests.Quantization.WeightOnly;

/// <summary>
/// The packed layouts are checked by ONNX Runtime itself: the quantized model must compute what the float model
/// computes, within what the bits allow. A wrong nibble order, block layout or zero point gives errors of the
/// order of the outputs themselves, far above these tolerances.
/// </summary>
public sealed class WeightOnlyQuantizerTests(ITestOutputHelper output) : IDisposable
{
    private readonly string temp = TestAssets.TempDirectory();

    public void Dispose() => Directory.Delete(temp, recursive: true);

    [Theory]
    [InlineData(8, 16, true, 0.02)]
    [InlineData(8, 32, false, 0.02)]
    [InlineData(8, 128, true, 0.02)]
    [InlineData(4, 16, false, 0.12)]
    [InlineData(4, 32, true, 0.12)]
    [InlineData(4, 128, false, 0.2)]
    public void Quantized_model_computes_what_the_float_model_computes_in_onnx_runtime(int bits, int blockSize, bool symmetric, double tolerance)
    {
        var model = WeightOnlyModels.Mixed();
        var inputs = WeightOnlyModels.Inputs();
        var expected = OrtFloatRunner.Run(model, temp, inputs);
        var log = new CollectingLog();

        var result = new WeightOnlyQuantizer().Quantize(model,
            new QuantizeOptions { Mode = QuantizationMode.WeightOnly, Bits = bits, OutputLayerBits = bits, BlockSize = blockSize, Symmetric = symmetric }, new PassContext(log));

        Assert.DoesNotContain(GraphChecker.Check(result.Model), d => d.Severity == DiagnosticSeverity.Error);
        Assert.Empty(log.Diagnostics);
        Assert.Equal("rtn", PassHarness.Result<WeightOnlyQuantizeResult>(result).Algorithm); // auto, without calibration data
        Assert.Equal(1, PassHarness.Result<WeightOnlyQuantizeResult>(result).QuantizedMatMul);
        Assert.Equal(3, PassHarness.Result<WeightOnlyQuantizeResult>(result).QuantizedGemm);
        Assert.Equal(1, PassHarness.Result<WeightOnlyQuantizeResult>(result).QuantizedGather);
        var graph = result.Model.Proto.Graph;
        Assert.Equal(4, graph.Node.Count(n => n.OpType == "MatMulNBits"));
        Assert.Single(graph.Node, n => n.OpType == "GatherBlockQuantized");
        Assert.DoesNotContain(graph.Initializer, t => t.Name is "w1" or "w2" or "w4" or "table");
        Assert.DoesNotContain(graph.Node, n => n.OpType == "Constant");

        var actual = OrtFloatRunner.Run(result.Model, temp, inputs);
        for (var i = 0; i < expected.Count; i++)
        {
            var error = RelativeError(expected[i], actual[i]);
            output.WriteLine($"output {i}: max |error| / max |value| = {error:F4}");
            Assert.True(error < tolerance, $"Output {i} is off by {error:F4} (allowed {tolerance}) at {bits} bits, block {blockSize}, symmetric {symmetric}.");
        }
    }

    [Fact]
    public void Gemm_with_transposed_A_stays_in_float_with_a_warning()
    {
        var model = WeightOnlyModels.Mixed();
        model.Proto.Graph.Node.Single(n => n.Name == "gemm_trans_b").Attribute.Add(Passes.GraphBuilder.Int("transA", 1));
        model.Proto.Graph.Node.Single(n => n.Name == "gemm_trans_b").Input[0] = "x_t";
        var transpose = Passes.GraphBuilder.Node("Transpose", ["x"], ["x_t"], "transpose");
        model.Proto.Graph.Node.Insert(0, transpose);
        var log = new CollectingLog();

        var result = new WeightOnlyQuantizer().Quantize(model, new QuantizeOptions { Mode = QuantizationMode.WeightOnly }, new PassContext(log));

        Assert.Equal(2, PassHarness.Result<WeightOnlyQuantizeResult>(result).QuantizedGemm);
        Assert.Contains(result.Model.Proto.Graph.Node, n => n.Name == "gemm_trans_b" && n.OpType == "Gemm");
        var warning = Assert.Single(log.Diagnostics);
        Assert.Equal(ErrorCodes.NodeLeftInFloat, warning.Code);
        Assert.Contains("gemm_trans_b", warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Layers_take_their_own_bits_and_block_size_and_still_compute_what_the_float_model_computes()
    {
        var model = WeightOnlyModels.Mixed();
        var inputs = WeightOnlyModels.Inputs();
        var expected = OrtFloatRunner.Run(model, temp, inputs);
        var options = new QuantizeOptions
        {
            Mode = QuantizationMode.WeightOnly,
            Bits = 4,
            BlockSize = 32,
            Layers = new Dictionary<string, LayerQuantizeSpec>
            {
                ["matmul"] = new() { Bits = 8 },
                ["gemm_*"] = new() { BlockSize = 16 },
                ["Gather"] = new() { Bits = 8, BlockSize = 64 },
            },
        };

        var result = new WeightOnlyQuantizer().Quantize(model, options, new PassContext(new CollectingLog()));

        long Attribute(string node, string name) => result.Model.Proto.Graph.Node.Single(n => n.Name.StartsWith(node, StringComparison.Ordinal) && n.Domain == "com.microsoft")
            .Attribute.Single(a => a.Name == name).I;
        Assert.Equal((8, 32), (Attribute("matmul", "bits"), Attribute("matmul", "block_size")));
        Assert.Equal((4, 16), (Attribute("gemm_alpha_beta", "bits"), Attribute("gemm_alpha_beta", "block_size")));
        Assert.Equal((8, 64), (Attribute("embedding", "bits"), Attribute("embedding", "block_size")));
        Assert.Equal(new Dictionary<string, int> { ["4/16"] = 3, ["8/32"] = 1, ["8/64"] = 1 }, PassHarness.Result<WeightOnlyQuantizeResult>(result).Layouts);
        var actual = OrtFloatRunner.Run(result.Model, temp, inputs);
        Assert.True(RelativeError(expected[0], actual[0]) < 0.02, "The 8-bit MatMul should be as close as 8 bits allow.");
        for (var i = 1; i < expected.Count; i++)
        {
            Assert.True(RelativeError(expected[i], actual[i]) < 0.12);
        }
    }

    [Fact]
    public void A_layer_entry_with_bad_bits_is_refused_naming_the_entry()
    {
        var options = new QuantizeOptions { Mode = QuantizationMode.WeightOnly, Layers = new Dictionary<string, LayerQuantizeSpec> { ["matmul"] = new() { Bits = 3 } } };
        var error = Assert.Throws<CompressionException>(() => new WeightOnlyQuantizer().Quantize(WeightOnlyModels.Mixed(), options, new PassContext(new CollectingLog())));
        Assert.Equal(ErrorCodes.QuantizationBits, error.Diagnostic.Code);
        Assert.Contains("(layers 'matmul')", error.Diagnostic.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Excluded_nodes_and_embeddings_can_stay_in_float()
    {
        var model = WeightOnlyModels.Mixed();
        var options = new QuantizeOptions { Mode = QuantizationMode.WeightOnly, Exclude = ["gemm_*", "MatMul"], QuantizeEmbeddings = false };

        var result = new WeightOnlyQuantizer().Quantize(model, options, new PassContext(new CollectingLog()));

        Assert.Equal(0, PassHarness.Result<WeightOnlyQuantizeResult>(result).QuantizedMatMul + PassHarness.Result<WeightOnlyQuantizeResult>(result).QuantizedGemm + PassHarness.Result<WeightOnlyQuantizeResult>(result).QuantizedGather);
    }

    [Fact]
    public void A_model_without_weights_is_left_unchanged_with_a_warning()
    {
        var model = WeightOnlyModels.Mixed();
        var log = new CollectingLog();

        new WeightOnlyQuantizer().Quantize(model, new QuantizeOptions { Mode = QuantizationMode.WeightOnly, Exclude = ["*"] }, new PassContext(log));

        Assert.Equal(ErrorCodes.NothingQuantized, Assert.Single(log.Diagnostics).Code);
        Assert.Null(model.OpsetVersion("com.microsoft"));
    }

    [Theory]
    [InlineData(3, 32, WeightOnlyAlgorithm.Rtn, "CMP3202")]
    [InlineData(4, 48, WeightOnlyAlgorithm.Rtn, "CMP3203")]
    [InlineData(4, 512, WeightOnlyAlgorithm.Rtn, "CMP3203")]
    [InlineData(4, 32, WeightOnlyAlgorithm.Gptq, "CMP3204")]
    public void Bad_options_are_refused_before_the_model_is_touched(int bits, int blockSize, WeightOnlyAlgorithm algorithm, string code)
    {
        var model = WeightOnlyModels.Mixed();
        var before = model.Proto.Clone();
        var options = new QuantizeOptions { Mode = QuantizationMode.WeightOnly, Bits = bits, BlockSize = blockSize, Algorithm = algorithm };

        var error = Assert.Throws<CompressionException>(() => new WeightOnlyQuantizer().Quantize(model, options, new PassContext(new CollectingLog())));

        Assert.Equal(code, error.Code);
        Assert.Equal(before, model.Proto);
    }

    [Fact]
    public void Gptq_on_a_data_set_the_recipe_does_not_define_is_refused()
    {
        var options = new QuantizeOptions { Mode = QuantizationMode.WeightOnly, Algorithm = WeightOnlyAlgorithm.Gptq, Calibration = new CalibrationSpec { Data = "missing" } };

        var error = Assert.Throws<CompressionException>(() => new WeightOnlyQuantizer().Quantize(WeightOnlyModels.Mixed(), options, new PassContext(new CollectingLog())));

        Assert.Equal(ErrorCodes.CalibrationDataMissing, error.Code);
    }

    [Fact]
    public void Gptq_on_an_empty_data_set_is_refused_before_the_model_is_touched()
    {
        var model = WeightOnlyModels.Mixed();
        var before = model.Proto.Clone();
        var empty = DataSourceFactory.Create(new DataSetSpec { Format = DataFormat.Random, Count = 4, Skip = 4 }, temp);
        var options = new QuantizeOptions
        {
            Mode = QuantizationMode.WeightOnly,
            Algorithm = WeightOnlyAlgorithm.Gptq,
            Calibration = new CalibrationSpec { Data = "empty" },
        };
        var context = new PassContext(new CollectingLog()) { DataSets = new Dictionary<string, IDataSource> { ["empty"] = empty } };

        var error = Assert.Throws<CompressionException>(() => new WeightOnlyQuantizer().Quantize(model, options, context));

        Assert.Equal(ErrorCodes.CalibrationDataEmpty, error.Code);
        Assert.Equal(before, model.Proto);
    }

    [Fact]
    public void An_already_quantized_model_is_refused()
    {
        var quantizer = new WeightOnlyQuantizer();
        var options = new QuantizeOptions { Mode = QuantizationMode.WeightOnly };
        var model = quantizer.Quantize(WeightOnlyModels.Mixed(), options, new PassContext(new CollectingLog())).Model;
        var before = model.Proto.Clone();

        var error = Assert.Throws<CompressionException>(() => quantizer.Quantize(model, options, new PassContext(new CollectingLog())));

        Assert.Equal(ErrorCodes.AlreadyQuantized, error.Code);
        Assert.Contains("MatMulNBits", error.Message, StringComparison.Ordinal);
        Assert.Equal(before, model.Proto);
    }


    /// <summary>
    /// A classifier: hidden MatMul, Relu, head MatMul, bias (a Constant node), Softmax. At 4 bits the head, whose scores the top-1 is
    /// taken from, keeps 8 bits unless output_layer_bits says 4; the hidden layer is 4 bits either way.
    /// </summary>
    [Theory]
    [InlineData(8)]
    [InlineData(4)]
    public void The_layer_that_writes_the_output_takes_output_layer_bits(int outputLayerBits)
    {
        var random = new Random(5);
        var model = GraphBuilder.Model(
            [
                GraphBuilder.Node("MatMul", ["x", "w_hidden"], ["h"], "hidden"),
                GraphBuilder.Node("Relu", ["h"], ["r"], "relu"),
                GraphBuilder.Node("MatMul", ["r", "w_head"], ["logits"], "head"),
                GraphBuilder.Constant("bias", WeightOnlyModels.Tensor("bias", random, WeightOnlyModels.N)), // PaddleOCR keeps biases in Constant nodes
                GraphBuilder.Node("Add", ["logits", "bias"], ["scores"], "bias"),
                GraphBuilder.Node("Softmax", ["scores"], ["y"], "softmax"),
            ],
            [GraphBuilder.Value("x", dims: [2, WeightOnlyModels.K])],
            [GraphBuilder.Value("y", dims: [2, WeightOnlyModels.N])],
            [WeightOnlyModels.Tensor("w_hidden", random, WeightOnlyModels.K, WeightOnlyModels.K), WeightOnlyModels.Tensor("w_head", random, WeightOnlyModels.K, WeightOnlyModels.N)]);

        var result = new WeightOnlyQuantizer().Quantize(model, new QuantizeOptions { Mode = QuantizationMode.WeightOnly, Bits = 4, OutputLayerBits = outputLayerBits },
            new PassContext(new CollectingLog()));

        long Bits(string node) => result.Model.Proto.Graph.Node.Single(n => n.Name.StartsWith(node, StringComparison.Ordinal) && n.OpType == "MatMulNBits")
            .Attribute.Single(a => a.Name == "bits").I;
        Assert.Equal((4, outputLayerBits), (Bits("hidden"), Bits("head")));
        var inputs = new[] { ("x", WeightOnlyModels.Tensor("x", new Random(9), 2, WeightOnlyModels.K)) };
        Assert.Equal(2 * WeightOnlyModels.N, OrtFloatRunner.Run(result.Model, temp, inputs)[0].Length);
    }

    [Fact]
    public void Output_layer_bits_other_than_4_or_8_are_refused()
    {
        var options = new QuantizeOptions { Mode = QuantizationMode.WeightOnly, OutputLayerBits = 6 };

        var error = Assert.Throws<CompressionException>(() => new WeightOnlyQuantizer().Quantize(WeightOnlyModels.Mixed(), options, new PassContext(new CollectingLog())));

        Assert.Equal(ErrorCodes.QuantizationBits, error.Code);
        Assert.Contains("output_layer_bits", error.Message, StringComparison.Ordinal);
    }
    internal static double RelativeError(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        double maxError = 0, maxValue = 0;
        for (var i = 0; i < expected.Length; i++)
        {
            maxError = Math.Max(maxError, Math.Abs(expected[i] - actual[i]));
            maxValue = Math.Max(maxValue, Math.Abs(expected[i]));
        }

        return maxError / maxValue;
    }
}
