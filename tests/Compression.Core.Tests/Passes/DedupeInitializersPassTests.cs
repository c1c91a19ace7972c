using Compression.Core.Onnx;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Passes.Graph;
using Compression.Core.Tests.Onnx;
using Compression.Core.Tests.Support;
using static Compression.Core.Tests.Passes.GraphBuilder;

namespace Compression.Core.Tests.Passes;

public sealed class DedupeInitializersPassTests : IDisposable
{
    private readonly PassHarness harness = new();

    public void Dispose() => harness.Dispose();

    /// <summary>
    /// Duplicates observed in the real models (PaddleOCR's after its Constants became initializers). mnist-8's two
    /// equal tensors are IR 3 graph inputs, which are never merged.
    /// </summary>
    [SkippableTheory]
    [InlineData("resnet18", 3)]
    [InlineData("all-MiniLM-L6-v2", 184)]
    [InlineData("mnist-8", 0)]
    [InlineData("paddleocr-det", 101)]
    [InlineData("paddleocr-rec", 77)]
    [InlineData("paddleocr-cls", 34)]
    public void Merges_identical_initializers_of_a_real_model_bit_identically(string name, int expected)
    {
        var model = ModelLoader.Load(RealModelTests.PathOf(name));
        harness.Apply(new ConstantsToInitializersPass(), model);
        var before = model.Proto.Graph.Initializer.Count;

        var result = harness.Apply(new DedupeInitializersPass(), model);

        Assert.Equal((long)expected, PassHarness.Result<DedupeInitializersResult>(result).Merged);
        Assert.Equal(before - expected, model.Proto.Graph.Initializer.Count);
        var contents = model.Proto.Graph.Initializer.Where(t => !model.Proto.Graph.Input.Any(i => i.Name == t.Name))
            .Select(t => (t.DataType, string.Join(",", t.Dims), Convert.ToBase64String(TensorCodec.GetRawBytes(t)))).ToList();
        Assert.Equal(contents.Count, contents.Distinct().Count());
        harness.AssertBitIdentical(name, model);
    }

    [Fact]
    public void A_duplicate_read_inside_a_subgraph_is_rewired_there()
    {
        var branch = new GraphProto { Name = "then" };
        branch.Node.Add(Node("Add", ["x", "b"], ["inner"]));
        branch.Output.Add(Value("inner", ElementType.Float, 2));
        var elseBranch = new GraphProto { Name = "else" };
        elseBranch.Node.Add(Node("Sub", ["x", "a"], ["other"]));
        elseBranch.Output.Add(Value("other", ElementType.Float, 2));
        var ifNode = Node("If", ["c"], ["y"]);
        ifNode.Attribute.Add(Graph("then_branch", branch));
        ifNode.Attribute.Add(Graph("else_branch", elseBranch));
        var model = Model([ifNode], [Value("x", ElementType.Float, 2), Value("c", ElementType.Bool)], [Value("y", ElementType.Float, 2)],
            [TensorCodec.FromSingle("a", [2], [1f, 2f], ElementType.Float), TensorCodec.FromSingle("b", [2], [1f, 2f], ElementType.Float)]);

        var result = harness.Apply(new DedupeInitializersPass(), model);

        Assert.Equal(1L, PassHarness.Result<DedupeInitializersResult>(result).Merged);
        Assert.Equal(["a"], model.Proto.Graph.Initializer.Select(t => t.Name));
        Assert.Equal("a", branch.Node[0].Input[1]);
        var outputs = Run(model, harness.Temp, ("x", TensorCodec.FromSingle("x", [2], [1f, 1f], ElementType.Float)),
            ("c", TensorCodec.FromRaw("c", [], ElementType.Bool, [1])));
        Assert.Equal([2f, 3f], outputs[0]);
    }

    [Fact]
    public void Same_bytes_with_other_dims_or_type_or_an_input_name_are_not_merged()
    {
        var model = Model([Node("Concat", ["a", "b", "c", "d", "e"], ["y"])],
            [Value("e", ElementType.Float, 2)], [Value("y", ElementType.Float)],
            [
                TensorCodec.FromSingle("a", [2], [1f, 2f], ElementType.Float),
                TensorCodec.FromSingle("b", [1, 2], [1f, 2f], ElementType.Float),
                TensorCodec.FromRaw("c", [2], ElementType.Int32, TensorCodec.GetRawBytes(TensorCodec.FromSingle("", [2], [1f, 2f], ElementType.Float))),
                TensorCodec.FromSingle("d", [2], [1f, 3f], ElementType.Float),
                TensorCodec.FromSingle("e", [2], [1f, 2f], ElementType.Float),
            ]);
        var result = harness.Apply(new DedupeInitializersPass(), model);
        Assert.Equal(0L, PassHarness.Result<DedupeInitializersResult>(result).Merged);
    }
}
