using Compression.Core.Onnx;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Passes.Graph;
using Compression.Core.Tests.Onnx;
using Compression.Core.Tests.Support;
using static Compression.Core.Tests.Passes.GraphBuilder;

namespace Compression.Core.Tests.Passes;

public sealed class FoldConstantsPassTests : IDisposable
{
    private readonly PassHarness harness = new();

    public void Dispose() => harness.Dispose();

    /// <summary>Nodes folded in each real model as exported (symbolic batch and sequence dims), as observed.</summary>
    [SkippableTheory]
    [InlineData("mnist-8", 0)]
    [InlineData("resnet18", 0)]
    [InlineData("paddleocr-det", 0)]
    [InlineData("paddleocr-rec", 15)]
    [InlineData("paddleocr-cls", 1)]
    [InlineData("all-MiniLM-L6-v2", 0)]
    public void Folds_the_constant_computations_of_a_real_model_bit_identically(string name, int folded)
    {
        var model = ModelLoader.Load(RealModelTests.PathOf(name));
        var result = harness.Apply(new FoldConstantsPass(), model);
        Assert.Equal((long)folded, PassHarness.Result<FoldConstantsResult>(result).Folded);
        harness.AssertBitIdentical(name, model);
    }

    /// <summary>
    /// With its inputs fixed to [1, 64], every shape computation of MiniLM that starts at a graph input folds;
    /// Shapes of intermediate values stay (the model carries no value_info for them).
    /// </summary>
    [SkippableFact]
    public void Minilm_with_static_inputs_folds_the_shapes_of_its_inputs()
    {
        var model = ModelLoader.Load(RealModelTests.PathOf("all-MiniLM-L6-v2"));
        foreach (var input in model.Proto.Graph.Input)
        {
            foreach (var dim in input.Type.TensorType.Shape.Dim)
            {
                dim.DimValue = dim.HasDimParam && dim.DimParam == "batch" ? 1 : 64;
            }
        }

        var before = new OnnxModel(model.Proto.Clone());
        var inputNames = model.Proto.Graph.Input.Select(i => i.Name).ToHashSet();
        var shapesOfInputs = model.Proto.Graph.Node.Count(n => n.OpType == "Shape" && inputNames.Contains(n.Input[0]));
        var nodesBefore = model.Proto.Graph.Node.Count;
        Assert.True(shapesOfInputs > 0);

        var result = harness.Apply(new FoldConstantsPass(), model);

        Assert.DoesNotContain(model.Proto.Graph.Node, n => n.OpType == "Shape" && inputNames.Contains(n.Input[0]));
        Assert.Equal(5L, PassHarness.Result<FoldConstantsResult>(result).Folded);
        Assert.Equal(642, model.Proto.Graph.Node.Count);
        Assert.Equal(650, nodesBefore);
        harness.AssertBitIdentical("all-MiniLM-L6-v2", before, model); // against the same static-shape model unfolded
    }

    [Theory]
    [InlineData(11)]
    [InlineData(13)]
    public void Shape_chain_folds_into_one_constant_with_axes_read_the_opset_way(long opset)
    {
        var unsqueeze = opset < 13 ? Node("Unsqueeze", ["d"], ["u"]) : Node("Unsqueeze", ["d", "axes"], ["u"]);
        if (opset < 13)
        {
            unsqueeze.Attribute.Add(Ints("axes", 0));
        }

        var gather = Node("Gather", ["s", "one"], ["d"]);
        var concat = Node("Concat", ["minus_one", "u"], ["target"]);
        concat.Attribute.Add(Int("axis", 0));
        var model = Model(
            [
                Node("Shape", ["x"], ["s"]), gather, unsqueeze, concat, Node("Reshape", ["x", "target"], ["y"]),
                Constant("one", TensorCodec.FromInt64("one", [], [1])),
            ],
            [Value("x", ElementType.Float, 2, 3)], [Value("y", ElementType.Float, 2, 3)],
            [TensorCodec.FromInt64("axes", [1], [0]), TensorCodec.FromInt64("minus_one", [1], [-1])], opset: opset);
        model.MainGraph.SortTopologically();

        var result = harness.Apply(new FoldConstantsPass(), model);

        Assert.Equal(4L, PassHarness.Result<FoldConstantsResult>(result).Folded);
        Assert.Equal(["Constant", "Reshape"], model.Proto.Graph.Node.Select(n => n.OpType));
        Assert.Equal([-1L, 3L], TensorCodec.ToInt64(model.Proto.Graph.Node[0].Attribute[0].T));
        var outputs = Run(model, harness.Temp, ("x", TensorCodec.FromSingle("x", [2, 3], [1f, 2f, 3f, 4f, 5f, 6f], ElementType.Float)));
        Assert.Equal([1f, 2f, 3f, 4f, 5f, 6f], outputs[0]);
    }

    [Fact]
    public void Results_past_max_elements_stay_nodes()
    {
        var fill = Node("ConstantOfShape", ["big_shape"], ["big"]);
        var model = Model([fill, Node("Add", ["x", "big"], ["y"])],
            [Value("x", ElementType.Float, 100_000)], [Value("y", ElementType.Float, 100_000)],
            [TensorCodec.FromInt64("big_shape", [1], [100_000])]);
        var result = harness.Apply(new FoldConstantsPass(), model);
        Assert.Equal(0L, PassHarness.Result<FoldConstantsResult>(result).Folded);

        var allowed = harness.Apply(new FoldConstantsPass(), model, new FoldConstantsOptions { MaxElements = 200_000 });
        Assert.Equal(1L, PassHarness.Result<FoldConstantsResult>(allowed).Folded);
    }

    [Fact]
    public void Integer_arithmetic_where_equal_range_cast_and_slice_fold_like_the_runtime()
    {
        var slice = Node("Slice", ["r", "starts", "ends", "axes", "steps"], ["sl"]);
        var cast = Node("Cast", ["sl"], ["cf"]);
        cast.Attribute.Add(Int("to", (int)ElementType.Float));
        var model = Model(
            [
                Node("Range", ["zero", "ten", "three"], ["r"]), // 0 3 6 9
                Node("Div", ["r", "two"], ["half"]),            // 0 1 3 4
                Node("Sub", ["half", "two"], ["shifted"]),      // -2 -1 1 2
                Node("Equal", ["shifted", "minus_one"], ["eq"]),
                Node("Where", ["eq", "r", "shifted"], ["w"]),   // -2 3 1 2
                slice, cast,                                    // r[3:0:-2] = 9 3
                Node("Add", ["x", "cf"], ["y"]), Node("Mul", ["w", "two"], ["z"]),
            ],
            [Value("x", ElementType.Float, 2)], [Value("y", ElementType.Float, 2), Value("z", ElementType.Int64, 4)],
            [
                TensorCodec.FromInt64("zero", [], [0]), TensorCodec.FromInt64("ten", [], [10]), TensorCodec.FromInt64("three", [], [3]),
                TensorCodec.FromInt64("two", [], [2]), TensorCodec.FromInt64("minus_one", [], [-1]),
                TensorCodec.FromInt64("starts", [1], [3]), TensorCodec.FromInt64("ends", [1], [0]),
                TensorCodec.FromInt64("axes", [1], [0]), TensorCodec.FromInt64("steps", [1], [-2]),
            ]);

        var result = harness.Apply(new FoldConstantsPass(), model);

        Assert.Equal(8L, PassHarness.Result<FoldConstantsResult>(result).Folded);
        var z = model.Proto.Graph.Node.Single(n => n.Output[0] == "z");
        Assert.Equal([-4L, 6L, 2L, 4L], TensorCodec.ToInt64(z.Attribute[0].T));
        model.Proto.Graph.Output.RemoveAt(1); // an int64 output; the float runner reads y only
        var outputs = Run(model, harness.Temp, ("x", TensorCodec.FromSingle("x", [2], [0.5f, 1f], ElementType.Float)));
        Assert.Equal([9.5f, 4f], outputs[0]);
    }
}
