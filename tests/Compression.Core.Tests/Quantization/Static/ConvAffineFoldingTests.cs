using Compression.Core.Onnx;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Quantization.Static;
using Compression.Core.Tests.Support;
using static Compression.Core.Tests.Passes.GraphBuilder;

namespace Compression.Core.Tests.Quantization.Static;

/// <summary>
/// PaddleOCR v4's "learnable affine block" around a HardSwish between two Convs: Conv -> x * a + b -> HardSwish written
/// out (x * Clip(x + 3, 0, 6) / 6) -> x * c + d -> Conv. The scales and shifts fold into the Convs (the shift before the
/// second Conv only because it is not padded); a padded Conv keeps the shift before it. Compared in ONNX Runtime.
/// </summary>
public sealed class ConvAffineFoldingTests : IDisposable
{
    private readonly PassHarness harness = new();

    public void Dispose() => harness.Dispose();

    [Theory]
    [InlineData(0, 5)] // unpadded second Conv: Mul, Add after the first Conv; Div, Mul, Add before the second
    [InlineData(1, 2)] // padded second Conv: the Add before it stays, and so do the Mul and Div before that Add
    public void Scales_and_shifts_fold_into_the_convs_and_the_outputs_do_not_change(int pad, int expectedFolds)
    {
        var model = AffineBlocks(pad);
        var folded = new OnnxModel(model.Proto.Clone());

        Assert.Equal(expectedFolds, ConvAffineFolding.Fold(folded.MainGraph));
        Assert.Equal(pad == 0 ? 0 : 2, folded.MainGraph.Nodes.Count(n => n.OpType is "Mul" && n.Input.Any(i => folded.MainGraph.Initializer(i) is not null)
            || n.OpType is "Add" && n.Input.Contains("d")));
        harness.AssertClose("affine blocks", model, folded, 1e-5);
    }

    private static OnnxModel AffineBlocks(int pad)
    {
        var random = new Random(7);
        float[] Values(int count) => Enumerable.Range(0, count).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var first = Node("Conv", ["x", "w1", "b1"], ["conv1"], "conv1");
        first.Attribute.Add(Ints("pads", 1, 1, 1, 1));
        var second = Node("Conv", ["shifted", "w2", "b2"], ["y"], "conv2");
        second.Attribute.Add(Ints("pads", pad, pad, pad, pad));
        var clip = Node("Clip", ["plus3", "zero", "six"], ["clipped"]);
        return Model(
            [
                first,
                Node("Mul", ["conv1", "a"], ["scaled"]),
                Node("Add", ["scaled", "b"], ["affine"]),
                Node("Add", ["affine", "three"], ["plus3"]),
                clip,
                Node("Mul", ["affine", "clipped"], ["product"]),
                Node("Div", ["product", "six"], ["swish"]),
                Node("Mul", ["c", "swish"], ["rescaled"]),
                Node("Add", ["rescaled", "d"], ["shifted"]),
                second,
            ],
            [Value("x", ElementType.Float, 1, 3, 6, 6)],
            [Value("y", ElementType.Float, 1, 4, 6, 6)],
            [
                TensorCodec.FromSingle("w1", [8, 3, 3, 3], Values(8 * 27), ElementType.Float),
                TensorCodec.FromSingle("b1", [8], Values(8), ElementType.Float),
                TensorCodec.FromSingle("w2", [4, 8, 1, 1], Values(32), ElementType.Float),
                TensorCodec.FromSingle("b2", [4], Values(4), ElementType.Float),
                TensorCodec.FromSingle("a", [1], [1.7f], ElementType.Float),
                TensorCodec.FromSingle("b", [1], [0.3f], ElementType.Float),
                TensorCodec.FromSingle("c", [1, 8, 1, 1], Values(8), ElementType.Float),
                TensorCodec.FromSingle("d", [1], [-0.4f], ElementType.Float),
                TensorCodec.FromSingle("three", [], [3f], ElementType.Float),
                TensorCodec.FromSingle("zero", [], [0f], ElementType.Float),
                TensorCodec.FromSingle("six", [], [6f], ElementType.Float),
            ],
            opset: 13);
    }
}
