using Compression.Core.Data;
using Compression.Core.Diagnostics;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Passes;
using Compression.Core.Quantization;
using Compression.Core.Tests.Support;
using Xunit.Abstractions;

namespace Compression.Core.Tests.Quantization.Recurrent;

/// <summary>LSTM, GRU and RNN in dynamic, static and weight-only modes, on small classifiers built in code.</summary>
public sealed class RecurrentQuantizationTests(ITestOutputHelper output) : IDisposable
{
    private readonly PassHarness harness = new();

    public void Dispose() => harness.Dispose();

    [Theory]
    [InlineData(false, true)]
    [InlineData(true, true)]
    [InlineData(true, false)]
    public void Dynamic_mode_runs_an_LSTM_as_DynamicQuantizeLSTM_close_to_float(bool bidirectional, bool perChannel)
    {
        var model = RecurrentModels.Classifier("LSTM", bidirectional);
        var result = Quantize(model, new QuantizeOptions { PerChannel = perChannel });

        var graph = result.Model.MainGraph;
        var lstm = Assert.Single(graph.Nodes, n => n.OpType == "DynamicQuantizeLSTM");
        Assert.Equal("com.microsoft", lstm.Domain);
        Assert.Equal(12, lstm.Input.Count);
        var directions = bidirectional ? 2L : 1L;
        const long rows = 4 * RecurrentModels.Hidden;
        var w = graph.Initializer(lstm.Input[1])!;
        var r = graph.Initializer(lstm.Input[2])!;
        Assert.Equal([directions, RecurrentModels.InputSize, rows], w.Dims);
        Assert.Equal([directions, RecurrentModels.Hidden, rows], r.Dims);
        Assert.Equal(ElementType.UInt8, TensorCodec.ElementTypeOf(w));
        Assert.Equal(perChannel ? [directions, rows] : [directions], graph.Initializer(lstm.Input[8])!.Dims);
        Assert.All(TensorCodec.GetRawBytes(graph.Initializer(lstm.Input[9])!), z => Assert.Equal(128, z));
        Assert.DoesNotContain(graph.Nodes, n => n.OpType == "LSTM");
        Assert.Null(graph.Initializer("W"));
        Assert.Equal("LSTM: DynamicQuantizeLSTM", Assert.Single(PassHarness.Result<QuantizeResult>(result).Recurrent!.Forms).Key);
        Assert.Null(PassHarness.Result<QuantizeResult>(result).Recurrent!.Storage);
        AssertClose(model, result.Model, 0.03);
    }

    [Theory]
    [InlineData("GRU", false)]
    [InlineData("GRU", true)]
    [InlineData("RNN", true)]
    public void Dynamic_mode_keeps_GRU_and_RNN_float_on_8_bit_weights_and_says_so(string op, bool bidirectional)
    {
        var model = RecurrentModels.Classifier(op, bidirectional);
        var before = RecurrentWeightBytes(model);
        // The head stays float: int8 products of tanh outputs (near 0 and 255 once quantized) are the MatMul path's
        // error, not the recurrent op's this test measures.
        var result = Quantize(model, new QuantizeOptions { Exclude = ["head"] });

        AssertStoredIn8Bits(result.Model, op, "");
        Assert.Equal(1L, PassHarness.Result<QuantizeResult>(result).Recurrent!.Quantized);
        Assert.Equal($"{op}: 8-bit storage, float compute", Assert.Single(PassHarness.Result<QuantizeResult>(result).Recurrent!.Forms).Key);
        Assert.Equal(before, PassHarness.Result<QuantizeResult>(result).Recurrent!.WeightBytesBefore);
        Assert.InRange(PassHarness.Result<QuantizeResult>(result).Recurrent!.WeightBytesAfter, before / 4, before / 4 + 2048);
        Assert.Contains("the compute stays float", PassHarness.Result<QuantizeResult>(result).Recurrent!.Storage, StringComparison.Ordinal);
        Assert.Contains(harness.Log.VerboseLines, m => m.Contains("the compute stays float", StringComparison.Ordinal));
        AssertClose(model, result.Model, 0.02);
    }

    [Theory]
    [InlineData("LSTM")]
    [InlineData("GRU")]
    public void Weight_only_mode_stores_recurrent_weights_in_8_bits(string op)
    {
        var model = RecurrentModels.Classifier(op, bidirectional: true);
        var result = Quantize(model, new QuantizeOptions { Mode = QuantizationMode.WeightOnly, Bits = 8 });

        AssertStoredIn8Bits(result.Model, op, "");
        Assert.Contains(result.Model.MainGraph.Nodes, n => n.OpType == "MatMulNBits");
        AssertClose(model, result.Model, 0.02);
    }

    /// <summary>
    /// QDQ around the head, none around the recurrent op (ONNX Runtime has no QDQ form of it). A GRU reads its weights
    /// through DequantizeLinear of stored codes that nothing quantizes again; an LSTM becomes DynamicQuantizeLSTM, the
    /// one integer recurrent kernel (it quantizes its input as it runs: at batch 1 it took the corpus LSTM from 1.15x
    /// float's latency with 8-bit storage to 0.66x).
    /// </summary>
    [Theory]
    [InlineData("LSTM", QuantizationFormat.Qdq)]
    [InlineData("GRU", QuantizationFormat.Qdq)]
    [InlineData("LSTM", QuantizationFormat.QOperator)]
    public void Static_mode_runs_LSTM_on_integers_and_keeps_GRU_float_on_8_bit_weights(string op, QuantizationFormat format)
    {
        var model = RecurrentModels.Classifier(op, bidirectional: true);
        var data = DataSourceFactory.Create(new DataSetSpec { Format = DataFormat.Random, Count = 64 }, harness.Temp);
        var options = new QuantizeOptions
        {
            Mode = QuantizationMode.Static,
            Format = format,
            Calibration = new CalibrationSpec { Data = "calibration", Samples = 64 },
        };
        var context = new PassContext(harness.Log) { DataSets = new Dictionary<string, IDataSource> { ["calibration"] = data } };
        var result = new QuantizePass().Run(new OnnxModel(model.Proto.Clone()), options, context);

        var graph = result.Model.MainGraph;
        var recurrent = Assert.Single(graph.Nodes, n => n.OpType == (op == "LSTM" ? "DynamicQuantizeLSTM" : op));
        if (op == "LSTM")
        {
            Assert.Equal("LSTM: DynamicQuantizeLSTM", Assert.Single(PassHarness.Result<QuantizeResult>(result).Recurrent!.Forms).Key);
        }
        else
        {
            AssertStoredIn8Bits(result.Model, op, "");
        }

        Assert.All(graph.Consumers(recurrent.Output[1]), reader => Assert.NotEqual("QuantizeLinear", reader.OpType));
        Assert.Contains(graph.Nodes, n => n.OpType is "QuantizeLinear" or "QLinearMatMul" or "MatMulInteger" or "MatMulIntegerToFloat");
        AssertClose(model, result.Model, 0.05);
    }

    /// <summary>Below opset 13 ai.onnx DequantizeLinear has no axis: com.microsoft's takes the per-row scales.</summary>
    [Fact]
    public void Below_opset_13_the_rows_are_dequantized_by_com_microsoft()
    {
        var model = RecurrentModels.Classifier("GRU", bidirectional: true, opset: 11);
        var result = Quantize(model, new QuantizeOptions());

        AssertStoredIn8Bits(result.Model, "GRU", "com.microsoft");
        Assert.Equal(11, result.Model.OpsetVersion(""));
        AssertClose(model, result.Model, 0.02);
    }

    [Fact]
    public void Recurrent_ops_left_alone_are_named_with_the_reason()
    {
        var computed = RecurrentModels.Classifier("LSTM", bidirectional: false, computedW: true);
        var result = Quantize(computed, new QuantizeOptions());

        Assert.Contains(result.Model.MainGraph.Nodes, n => n.OpType == "LSTM");
        var warning = Assert.Single(harness.Log.Diagnostics, d => d.Code == ErrorCodes.NodeLeftInFloat);
        Assert.Contains("'lstm_1' (LSTM)", warning.Message, StringComparison.Ordinal);
        Assert.Contains("computed at run time", warning.Message, StringComparison.Ordinal);
        Assert.Equal(0L, PassHarness.Result<QuantizeResult>(result).Recurrent!.Quantized);

        var batchFirst = RecurrentModels.Classifier("GRU", bidirectional: false, layout: 1);
        var log = new CollectingLog();
        new QuantizePass().Run(batchFirst, new QuantizeOptions { Mode = QuantizationMode.WeightOnly }, new PassContext(log));
        Assert.Contains("layout 1", Assert.Single(log.Diagnostics, d => d.Code == ErrorCodes.NodeLeftInFloat).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_excluded_recurrent_op_keeps_its_float_weights()
    {
        var model = RecurrentModels.Classifier("LSTM", bidirectional: false);
        var result = Quantize(model, new QuantizeOptions { Exclude = ["LSTM"] });

        Assert.Contains(result.Model.MainGraph.Nodes, n => n.OpType == "LSTM");
        Assert.NotNull(result.Model.MainGraph.Initializer("W"));
        Assert.Equal(0L, PassHarness.Result<QuantizeResult>(result).Recurrent!.Quantized);
        Assert.DoesNotContain(harness.Log.Diagnostics, d => d.Code == ErrorCodes.NodeLeftInFloat);
    }

    private PassResult Quantize(OnnxModel model, QuantizeOptions options) =>
        harness.Apply(new QuantizePass(), new OnnxModel(model.Proto.Clone()), options);

    /// <summary>The op reads W and R as Reshape(DequantizeLinear(8-bit codes)) of the given domain, per row.</summary>
    private static void AssertStoredIn8Bits(OnnxModel model, string op, string domain)
    {
        var graph = model.MainGraph;
        var node = Assert.Single(graph.Nodes, n => n.OpType == op);
        foreach (var input in node.Input.Skip(1).Take(2))
        {
            var reshape = graph.Producer(input);
            Assert.Equal("Reshape", reshape?.OpType);
            var dequantize = graph.Producer(reshape!.Input[0])!;
            Assert.Equal("DequantizeLinear", dequantize.OpType);
            Assert.Equal(domain, dequantize.Domain);
            Assert.Equal(ElementType.Int8, TensorCodec.ElementTypeOf(graph.Initializer(dequantize.Input[0])!));
            Assert.Equal(graph.Initializer(dequantize.Input[0])!.Dims[0], TensorCodec.ElementCount(graph.Initializer(dequantize.Input[1])!));
        }

        Assert.Null(graph.Initializer("W"));
        Assert.Null(graph.Initializer("R"));
        Assert.NotNull(graph.Initializer("B"));
    }

    private static long RecurrentWeightBytes(OnnxModel model) =>
        4 * (TensorCodec.ElementCount(model.MainGraph.Initializer("W")!) + TensorCodec.ElementCount(model.MainGraph.Initializer("R")!));

    /// <summary>max |after - before| / max |before| on every output (logits and the op's Y) on the same inputs.</summary>
    private void AssertClose(OnnxModel before, OnnxModel after, double tolerance)
    {
        var inputs = RecurrentModels.Inputs();
        var expected = OrtFloatRunner.Run(before, harness.Temp, inputs);
        var actual = OrtFloatRunner.Run(after, harness.Temp, inputs);
        var errors = expected.Zip(actual, (e, a) => e.Zip(a, (x, y) => Math.Abs(x - y)).Max() / e.Max(Math.Abs)).ToList();
        output.WriteLine($"max |after - before| / max |before|: logits {errors[0]:P2}, Y {errors[1]:P2}");
        Assert.All(errors, error => Assert.True(error < tolerance, $"{error:P2} is not under {tolerance:P0}."));
    }
}
