using Compression.Core.Onnx;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Passes.Graph;
using Compression.Core.Tests.Onnx;
using Compression.Core.Tests.Support;
using static Compression.Core.Tests.Passes.GraphBuilder;

namespace Compression.Core.Tests.Passes;

public sealed class ConstantsAndInitializersPassTests : IDisposable
{
    private readonly PassHarness harness = new();

    public void Dispose() => harness.Dispose();

    /// <summary>Constant nodes and initializers each real model holds, as counted when the tests were written.</summary>
    [SkippableTheory]
    [InlineData("paddleocr-det", 342, 0)]
    [InlineData("paddleocr-rec", 325, 0)]
    [InlineData("paddleocr-cls", 250, 0)]
    [InlineData("all-MiniLM-L6-v2", 155, 148)]
    [InlineData("mnist-8", 0, 8)]
    [InlineData("resnet18", 0, 110)]
    public void Constants_become_initializers_and_the_model_runs_bit_identically(string name, int constants, int initializers)
    {
        var model = ModelLoader.Load(RealModelTests.PathOf(name));
        Assert.Equal(constants, model.Proto.Graph.Node.Count(n => n.OpType == "Constant"));
        Assert.Equal(initializers, model.Proto.Graph.Initializer.Count);

        var result = harness.Apply(new ConstantsToInitializersPass(), model);

        Assert.Equal((long)constants, PassHarness.Result<ConstantsToInitializersResult>(result).Converted);
        Assert.DoesNotContain(model.Proto.Graph.Node, n => n.OpType == "Constant");
        Assert.Equal(constants + initializers, model.Proto.Graph.Initializer.Count);
        harness.AssertBitIdentical(name, model);
    }

    [SkippableTheory]
    [InlineData("resnet18", 110)]
    [InlineData("all-MiniLM-L6-v2", 148)]
    public void Initializers_become_leading_constants_and_the_model_runs_bit_identically(string name, int initializers)
    {
        var model = ModelLoader.Load(RealModelTests.PathOf(name));
        var result = harness.Apply(new InitializersToConstantsPass(), model);

        Assert.Equal((long)initializers, PassHarness.Result<InitializersToConstantsResult>(result).Converted);
        Assert.Empty(model.Proto.Graph.Initializer);
        var constants = model.Proto.Graph.Node.TakeWhile(n => n.OpType == "Constant").Count();
        Assert.True(constants >= initializers, $"{constants} leading Constant nodes, expected at least {initializers}.");
        harness.AssertBitIdentical(name, model);
    }

    [SkippableFact]
    public void Paddleocr_det_round_trips_through_initializers_and_back()
    {
        var model = ModelLoader.Load(RealModelTests.PathOf("paddleocr-det"));
        harness.Apply(new ConstantsToInitializersPass(), model);
        var back = harness.Apply(new InitializersToConstantsPass(), model);
        Assert.Equal(342L, PassHarness.Result<InitializersToConstantsResult>(back).Converted);
        Assert.All(model.Proto.Graph.Node.Take(342), n => Assert.Equal("Constant", n.OpType));
        Assert.Empty(model.Proto.Graph.Initializer);
        harness.AssertBitIdentical("paddleocr-det", model);
    }

    [SkippableFact]
    public void Mnist_ir3_initializers_listed_as_inputs_stay_initializers()
    {
        var model = ModelLoader.Load(RealModelTests.PathOf("mnist-8"));
        var inputs = model.Proto.Graph.Input.Select(i => i.Name).ToList();
        var result = harness.Apply(new InitializersToConstantsPass(), model);
        Assert.Equal(0L, PassHarness.Result<InitializersToConstantsResult>(result).Converted);
        Assert.Equal(8L, PassHarness.Result<InitializersToConstantsResult>(result).KeptAsInputs);
        Assert.Equal(inputs, model.Proto.Graph.Input.Select(i => i.Name));
    }

    [Fact]
    public void Ir3_model_converts_only_initializers_that_are_not_inputs_and_keeps_its_input_list()
    {
        var model = Model([Node("Add", ["x", "w"], ["s"]), Node("Mul", ["s", "k"], ["y"])],
            [Value("x", ElementType.Float, 2), Value("w", ElementType.Float, 2)], [Value("y", ElementType.Float, 2)],
            [TensorCodec.FromSingle("w", [2], [1f, 2f], ElementType.Float), TensorCodec.FromSingle("k", [2], [3f, 4f], ElementType.Float)],
            opset: 8, irVersion: 3);

        var result = harness.Apply(new InitializersToConstantsPass(), model);

        Assert.Equal(1L, PassHarness.Result<InitializersToConstantsResult>(result).Converted);
        Assert.Equal(["w"], model.Proto.Graph.Initializer.Select(t => t.Name));
        Assert.Equal(["x", "w"], model.Proto.Graph.Input.Select(i => i.Name));
        Assert.Equal("Constant", model.Proto.Graph.Node[0].OpType);
        var outputs = Run(model, harness.Temp, ("x", TensorCodec.FromSingle("x", [2], [1f, 1f], ElementType.Float)));
        Assert.Equal([6f, 12f], outputs[0]);
    }

    [Fact]
    public void Every_constant_attribute_form_becomes_a_typed_initializer_and_sparse_ones_stay()
    {
        var floats = Node("Constant", [], ["f"]);
        floats.Attribute.Add(new AttributeProto { Name = "value_floats", Type = AttributeProto.Types.AttributeType.Floats, Floats = { 1f, 2f } });
        var integer = Node("Constant", [], ["i"]);
        integer.Attribute.Add(Int("value_int", 5));
        var strings = Node("Constant", [], ["s"]);
        strings.Attribute.Add(new AttributeProto { Name = "value_strings", Type = AttributeProto.Types.AttributeType.Strings, Strings = { Google.Protobuf.ByteString.CopyFromUtf8("a") } });
        var sparse = Node("Constant", [], ["sp"]);
        sparse.Attribute.Add(new AttributeProto
        {
            Name = "sparse_value",
            Type = AttributeProto.Types.AttributeType.SparseTensor,
            SparseTensor = new SparseTensorProto { Values = TensorCodec.FromSingle("v", [1], [1f], ElementType.Float), Indices = TensorCodec.FromInt64("i", [1], [0]), Dims = { 2 } },
        });
        var model = Model([floats, integer, strings, sparse, Node("Add", ["x", "f"], ["y"]), Node("Add", ["sp", "f"], ["z"])],
            [Value("x", ElementType.Float, 2)], [Value("y", ElementType.Float, 2), Value("z", ElementType.Float, 2)]);

        var result = harness.Apply(new ConstantsToInitializersPass(), model);

        Assert.Equal(3L, PassHarness.Result<ConstantsToInitializersResult>(result).Converted);
        Assert.Equal(1L, PassHarness.Result<ConstantsToInitializersResult>(result).SkippedSparse);
        var byName = model.Proto.Graph.Initializer.ToDictionary(t => t.Name);
        Assert.Equal([1f, 2f], TensorCodec.ToSingle(byName["f"]));
        Assert.Equal([5L], TensorCodec.ToInt64(byName["i"]));
        Assert.Empty(byName["i"].Dims);
        Assert.Equal(["a"], TensorCodec.ToStrings(byName["s"]));
        Assert.Equal("sp", model.Proto.Graph.Node.Single(n => n.OpType == "Constant").Output[0]);
    }
}
