using Compression.Core.Onnx;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Passes.Graph;
using Compression.Core.Tests.Onnx;
using Compression.Core.Tests.Support;
using static Compression.Core.Tests.Passes.GraphBuilder;

namespace Compression.Core.Tests.Passes;

public sealed class FoldBatchNormPassTests : IDisposable
{
    private readonly PassHarness harness = new();

    public void Dispose() => harness.Dispose();

    /// <summary>
    /// BatchNormalization counts observed: every BN of ResNet18 and PaddleOCR cls/rec follows a Conv that feeds only
    /// it; PaddleOCR det has three, one of which does not follow a Conv and stays.
    /// </summary>
    [SkippableTheory]
    [InlineData("resnet18", 22, 0)]
    [InlineData("paddleocr-det", 2, 1)] // its last output is a sigmoid map near 0 on noise: the logits are compared too
    [InlineData("paddleocr-rec", 6, 0)]
    [InlineData("paddleocr-cls", 35, 0)]
    [InlineData("mnist-8", 0, 0)]
    [InlineData("all-MiniLM-L6-v2", 0, 0)]
    public void Folds_every_batch_norm_after_a_conv_and_outputs_stay_close(string name, int folded, int remaining)
    {
        var model = ModelLoader.Load(RealModelTests.PathOf(name));
        var nodesBefore = model.Proto.Graph.Node.Count;

        var result = harness.Apply(new FoldBatchNormPass(), model);

        Assert.Equal((long)folded, PassHarness.Result<FoldBatchNormResult>(result).Folded);
        Assert.Equal(remaining, model.Proto.Graph.Node.Count(n => n.OpType == "BatchNormalization"));
        Assert.True(nodesBefore - model.Proto.Graph.Node.Count >= folded); // the BN and, in PaddleOCR, its four Constant inputs
        var before = ModelLoader.Load(RealModelTests.PathOf(name));
        PassHarness.ExposeSigmoidLogits(before);
        PassHarness.ExposeSigmoidLogits(model);
        harness.AssertClose(name, before, model, 1e-4);
    }

    [Fact]
    public void A_conv_whose_output_has_a_second_reader_is_not_folded()
    {
        var model = ConvBatchNorm(bias: true);
        model.Proto.Graph.Node.Add(Node("Relu", ["conv"], ["side"]));
        model.Proto.Graph.Output.Add(Value("side", ElementType.Float, 1, 2, 2, 2));
        var result = harness.Apply(new FoldBatchNormPass(), model);
        Assert.Equal(0L, PassHarness.Result<FoldBatchNormResult>(result).Folded);
        Assert.Contains(model.Proto.Graph.Node, n => n.OpType == "BatchNormalization");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Conv_with_or_without_bias_gives_the_same_outputs(bool bias)
    {
        var model = ConvBatchNorm(bias);
        var input = ("x", TensorCodec.FromSingle("x", [1, 1, 2, 2], [1f, -2f, 3f, 0.5f], ElementType.Float));
        var expected = Run(model, harness.Temp, input);

        var result = harness.Apply(new FoldBatchNormPass(), model);

        Assert.Equal(1L, PassHarness.Result<FoldBatchNormResult>(result).Folded);
        Assert.Equal(["Conv"], model.Proto.Graph.Node.Select(n => n.OpType));
        Assert.Equal(3, model.Proto.Graph.Node[0].Input.Count);
        Assert.Equal(["weight", bias ? "bias" : "_bias_folded"], model.Proto.Graph.Node[0].Input.Skip(1).Select(i => i.Replace("Conv_conv", "", StringComparison.Ordinal)));
        AssertClose(expected, Run(model, harness.Temp, input));
    }

    [Theory]
    [InlineData(true, true)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    public void Gemm_with_and_without_transposed_weights_gives_the_same_outputs(bool transB, bool bias)
    {
        // Weights 3 (in) x 2 (out), or 2 x 3 transposed; BN over the 2 output columns.
        float[] w = transB ? [1f, 2f, 3f, -1f, 0.5f, 2f] : [1f, -1f, 2f, 0.5f, 3f, 2f];
        var gemm = Node("Gemm", bias ? ["x", "w", "c"] : ["x", "w"], ["g"]);
        gemm.Attribute.Add(Int("transB", transB ? 1 : 0));
        gemm.Attribute.Add(Float("beta", 0.5f));
        var model = Model([gemm, BatchNorm("g", "y")],
            [Value("x", ElementType.Float, 2, 3)], [Value("y", ElementType.Float, 2, 2)],
            [
                TensorCodec.FromSingle("w", transB ? [2, 3] : [3, 2], w, ElementType.Float),
                TensorCodec.FromSingle("c", [2], [0.25f, -1f], ElementType.Float),
                .. BatchNormParameters(2),
            ]);
        var input = ("x", TensorCodec.FromSingle("x", [2, 3], [1f, 2f, 3f, -1f, 0f, 4f], ElementType.Float));
        var expected = Run(model, harness.Temp, input);

        var result = harness.Apply(new FoldBatchNormPass(), model);

        Assert.Equal(1L, PassHarness.Result<FoldBatchNormResult>(result).Folded);
        Assert.Equal(["Gemm"], model.Proto.Graph.Node.Select(n => n.OpType));
        AssertClose(expected, Run(model, harness.Temp, input));
    }

    [Fact]
    public void Float16_weights_stay_float16()
    {
        var model = ConvBatchNorm(bias: false);
        var weight = model.Proto.Graph.Initializer.Single(t => t.Name == "weight");
        var half = TensorCodec.FromSingle("weight", weight.Dims.ToArray(), TensorCodec.ToSingle(weight), ElementType.Float16);
        model.MainGraph.SetInitializer(half);
        harness.Apply(new FoldBatchNormPass(), model);
        var folded = model.Proto.Graph.Initializer.Single(t => t.Name == "weight");
        Assert.Equal((int)ElementType.Float16, folded.DataType);
        // Channel 0: scale 2, var 3, eps 1e-5 -> factor 2 / sqrt(3 + 1e-5).
        Assert.Equal((float)(Half)(float)(1.0 * 2 / Math.Sqrt(3 + 1e-5)), TensorCodec.ToSingle(folded)[0]);
    }

    private static void AssertClose(IReadOnlyList<float[]> expected, IReadOnlyList<float[]> actual)
    {
        for (var i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].Length, actual[i].Length);
            for (var j = 0; j < expected[i].Length; j++)
            {
                Assert.True(Math.Abs(expected[i][j] - actual[i][j]) <= 1e-5 * Math.Max(1, Math.Abs(expected[i][j])),
                    $"output {i}[{j}]: {expected[i][j]} vs {actual[i][j]}");
            }
        }
    }

    /// <summary>1x1 Conv from 1 to 2 channels, then BN.</summary>
    private static OnnxModel ConvBatchNorm(bool bias)
    {
        var conv = Node("Conv", bias ? ["x", "weight", "bias"] : ["x", "weight"], ["conv"]);
        var initializers = new List<TensorProto> { TensorCodec.FromSingle("weight", [2, 1, 1, 1], [1f, -0.5f], ElementType.Float) };
        if (bias)
        {
            initializers.Add(TensorCodec.FromSingle("bias", [2], [0.1f, 0.2f], ElementType.Float));
        }

        initializers.AddRange(BatchNormParameters(2));
        return Model([conv, BatchNorm("conv", "y")], [Value("x", ElementType.Float, 1, 1, 2, 2)], [Value("y", ElementType.Float, 1, 2, 2, 2)], initializers);
    }

    private static NodeProto BatchNorm(string input, string output)
    {
        var bn = Node("BatchNormalization", [input, "bn_scale", "bn_bias", "bn_mean", "bn_var"], [output]);
        bn.Attribute.Add(Float("epsilon", 1e-5f));
        return bn;
    }

    private static TensorProto[] BatchNormParameters(int channels) =>
    [
        TensorCodec.FromSingle("bn_scale", [channels], new[] { 2f, 0.5f, 1.5f }[..channels], ElementType.Float),
        TensorCodec.FromSingle("bn_bias", [channels], new[] { 0.3f, -0.7f, 1f }[..channels], ElementType.Float),
        TensorCodec.FromSingle("bn_mean", [channels], new[] { 0.2f, -1f, 0.5f }[..channels], ElementType.Float),
        TensorCodec.FromSingle("bn_var", [channels], new[] { 3f, 0.25f, 2f }[..channels], ElementType.Float),
    ];
}
