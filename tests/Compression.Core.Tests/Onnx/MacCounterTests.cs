using Compression.Core.Diagnostics;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Inspection;
using Compression.Core.Passes;
using Compression.Core.Quantization;
using Compression.Core.Quantization.Dynamic;
using Compression.Core.Tests.Quantization.Static;
using Compression.Core.Tests.Support;
using Xunit.Abstractions;

namespace Compression.Core.Tests.Onnx;

/// <summary>MACs counted from the graph against counts worked out by hand from the models' layers.</summary>
public sealed class MacCounterTests(ITestOutputHelper output)
{
    // Conv 5x5, 1 -> 8 channels on 28x28 (same padding); Conv 5x5, 8 -> 16 channels on 14x14; MatMul 256 -> 10.
    private const long MnistMacs = 28 * 28 * 8 * 25 + 14 * 14 * 16 * 8 * 25 + 256 * 10;

    private static string Corpus(string name) => Path.Combine(TestAssets.Corpus, name + ".onnx");

    [SkippableFact]
    public void Mnist_counts_its_two_convolutions_and_its_classifier()
    {
        var path = TestAssets.Require(TestAssets.Mnist, "mnist-8");
        var count = MacCounter.Count(ModelLoader.Load(path).Proto);

        Assert.Equal(786_560, MnistMacs);
        Assert.Equal((MnistMacs, 3, true), (count.Macs, count.CountedNodes, count.IsComplete));
        Assert.Equal(MnistMacs, ModelInspector.Inspect(path).Macs.Macs);
    }

    [Fact]
    public void Gemm_layers_count_their_weights_once_per_sample()
    {
        var count = MacCounter.Count(ModelLoader.Load(Corpus("mlp_gemm")).Proto);

        Assert.True(count.IsComplete);
        Assert.Equal(784 * 160 + 160 * 96 + 96 * 10, count.Macs);
    }

    [Fact]
    public void MatMul_on_a_sequence_counts_every_row_with_the_batch_bound_to_one()
    {
        var count = MacCounter.Count(ModelLoader.Load(Corpus("mlp_matmul3d")).Proto);

        Assert.True(count.IsComplete, string.Join(", ", count.UncountedNodes));
        Assert.Equal(28 * (28 * 96 + 96 * 192 + 192 * 96) + 96 * 28 * 10, count.Macs);
    }

    [Fact]
    public void ConvTranspose_scatters_each_input_through_its_kernel_and_Resize_carries_the_shape_on()
    {
        var count = MacCounter.Count(ModelLoader.Load(Corpus("unet_like")).Proto);

        Assert.True(count.IsComplete, string.Join(", ", count.UncountedNodes));
        long[] layers =
        [
            28 * 28 * 16 * 1 * 9, 14 * 14 * 32 * 16 * 9, 7 * 7 * 48 * 32 * 9, // encoder Convs
            7 * 7 * 48 * 32 * 2 * 2, // ConvTranspose 2x2 stride 2: every input element times 32 x 2 x 2
            14 * 14 * 32 * 64 * 9, 28 * 28 * 24 * 48 * 9, (24 + 48) * 10, // decoder Convs after the Concats (the second after Resize), head
        ];
        Assert.Equal(layers.Sum(), count.Macs);
    }

    [Fact]
    public void Bound_dims_scale_the_count()
    {
        var model = ModelLoader.Load(Corpus("mlp_gemm")).Proto;
        var batch = model.Graph.Input[0].Type.TensorType.Shape.Dim[0].DimParam;

        var count = MacCounter.Count(model, new Dictionary<string, long> { [batch] = 4 });

        Assert.Equal(4 * MacCounter.Count(model).Macs, count.Macs);
    }

    [Fact]
    public void A_linear_layer_of_unknown_shape_is_named_and_left_out()
    {
        var model = ModelLoader.Load(Corpus("mlp_gemm")).Proto;
        var input = model.Graph.Input[0].Type.TensorType.Shape;
        input.Dim[1].ClearValue();
        model.Graph.ValueInfo.Clear();

        var count = MacCounter.Count(model);

        Assert.False(count.IsComplete);
        Assert.Equal(160 * 96 + 96 * 10, count.Macs);
        Assert.Single(count.UncountedNodes);
        Assert.Contains("1 linear nodes not counted", count.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Every_corpus_model_is_counted()
    {
        foreach (var file in Directory.GetFiles(TestAssets.Corpus, "*.onnx").Order(StringComparer.Ordinal))
        {
            var count = MacCounter.Count(ModelLoader.Load(file).Proto);
            output.WriteLine($"{Path.GetFileNameWithoutExtension(file)}: {count} {string.Join(", ", count.UncountedNodes)}");
            Assert.True(count.Macs > 0, file);
        }
    }

    [SkippableFact]
    public void Dynamic_int8_keeps_the_float_count()
    {
        foreach (var path in new[] { TestAssets.Require(TestAssets.Mnist, "mnist-8"), Corpus("mlp_matmul3d"), Corpus("mlp_gemm") })
        {
            var model = ModelLoader.Load(path);
            var floatCount = MacCounter.Count(model.Proto);
            var quantized = new DynamicQuantizer().Quantize(ModelLoader.Load(path), new QuantizeOptions(), new PassContext(new CollectingLog())).Model;

            var count = MacCounter.Count(quantized.Proto);

            Assert.True(count.IsComplete, $"{path}: {string.Join(", ", count.UncountedNodes)}");
            Assert.Equal(floatCount.Macs, count.Macs);
        }
    }

    [SkippableFact]
    public void Integer_operators_keep_the_float_count()
    {
        var source = TestAssets.Require(TestAssets.Mnist, "mnist-8");
        var options = StaticTestData.Options(QuantizationFormat.QOperator, true);

        var quantized = StaticTestData.Quantize(ModelLoader.Load(source), options, StaticTestData.Mnist(32), new CollectingLog()).Model.Proto;

        // Both convolutions become QLinearConv; the classifier is a Gemm over its dequantized weight.
        Assert.Equal(2, quantized.Graph.Node.Count(n => n.OpType == "QLinearConv"));
        var count = MacCounter.Count(quantized);
        Assert.True(count.IsComplete, string.Join(", ", count.UncountedNodes));
        Assert.Equal(MnistMacs, count.Macs);
    }
}
