using Compression.Core.Onnx;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Passes.Graph;
using Compression.Core.Tests.Onnx;
using Compression.Core.Tests.Support;
using static Compression.Core.Tests.Passes.GraphBuilder;

namespace Compression.Core.Tests.Passes;

public sealed class RemoveDeadNodesPassTests : IDisposable
{
    private readonly PassHarness harness = new();

    public void Dispose() => harness.Dispose();

    public static TheoryData<string> Models() => RealModelTests.Models();

    /// <summary>The real models have no dead code of their own; a dead chain and an unused weight are added to each.</summary>
    [SkippableTheory]
    [MemberData(nameof(Models))]
    public void Removes_a_dead_chain_from_a_real_model_and_nothing_else(string name)
    {
        var model = ModelLoader.Load(RealModelTests.PathOf(name));
        var clean = harness.Apply(new RemoveDeadNodesPass(), ModelLoader.Load(RealModelTests.PathOf(name)));
        Assert.Equal(0L, PassHarness.Result<RemoveDeadNodesResult>(clean).NodesRemoved);
        Assert.Equal(0L, PassHarness.Result<RemoveDeadNodesResult>(clean).InitializersRemoved);

        var nodesBefore = model.Proto.Graph.Node.Count;
        var initializersBefore = model.Proto.Graph.Initializer.Count;
        var someValue = model.Proto.Graph.Node[model.Proto.Graph.Node.Count / 2].Output[0];
        model.Proto.Graph.Node.Add(Node("Relu", [someValue], ["dead_1"]));
        model.Proto.Graph.Node.Add(Node("Neg", ["dead_1"], ["dead_2"]));
        model.Proto.Graph.Initializer.Add(TensorCodec.FromSingle("unused_weight", [3], [1f, 2f, 3f], ElementType.Float));

        var result = harness.Apply(new RemoveDeadNodesPass(), model);

        Assert.Equal(2L, PassHarness.Result<RemoveDeadNodesResult>(result).NodesRemoved);
        Assert.Equal(1L, PassHarness.Result<RemoveDeadNodesResult>(result).InitializersRemoved);
        Assert.Equal(nodesBefore, model.Proto.Graph.Node.Count);
        Assert.Equal(initializersBefore, model.Proto.Graph.Initializer.Count);
        harness.AssertBitIdentical(name, model);
    }

    [Fact]
    public void Ir3_initializers_listed_as_inputs_stay_even_when_unread()
    {
        var model = Model([Node("Neg", ["x"], ["y"])],
            [Value("x", ElementType.Float, 1), Value("w", ElementType.Float, 1)], [Value("y", ElementType.Float, 1)],
            [TensorCodec.FromSingle("w", [1], [1f], ElementType.Float)], opset: 8, irVersion: 3);
        var result = harness.Apply(new RemoveDeadNodesPass(), model);
        Assert.Equal(0L, PassHarness.Result<RemoveDeadNodesResult>(result).InitializersRemoved);
        Assert.Single(model.Proto.Graph.Initializer);
        Assert.Equal(2, model.Proto.Graph.Input.Count);
    }
}
