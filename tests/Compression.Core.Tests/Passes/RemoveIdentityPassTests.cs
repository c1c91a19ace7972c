using Compression.Core.Onnx;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Passes.Graph;
using Compression.Core.Tests.Onnx;
using Compression.Core.Tests.Support;
using static Compression.Core.Tests.Passes.GraphBuilder;

namespace Compression.Core.Tests.Passes;

public sealed class RemoveIdentityPassTests : IDisposable
{
    private readonly PassHarness harness = new();

    public void Dispose() => harness.Dispose();

    public static TheoryData<string> Models() => RealModelTests.Models();

    /// <summary>
    /// None of the real models holds an Identity, so each gets one after every node output (the graph output too,
    /// by renaming its producer): the pass must remove them all and the outputs must stay bit-identical.
    /// </summary>
    [SkippableTheory]
    [MemberData(nameof(Models))]
    public void Removes_identities_threaded_through_a_real_model(string name)
    {
        var model = ModelLoader.Load(RealModelTests.PathOf(name));
        var nodesBefore = model.Proto.Graph.Node.Count;
        Assert.DoesNotContain(model.Proto.Graph.Node, n => n.OpType == "Identity");
        var inserted = ThreadIdentities(model);

        var result = harness.Apply(new RemoveIdentityPass(), model);

        Assert.Equal(inserted, PassHarness.Result<RemoveIdentityResult>(result).IdentityRemoved);
        Assert.Equal(0, PassHarness.Result<RemoveIdentityResult>(result).Kept);
        Assert.Equal(nodesBefore, model.Proto.Graph.Node.Count);
        Assert.Equal(ModelLoader.Load(RealModelTests.PathOf(name)).Proto.Graph.Output.Select(o => o.Name), model.Proto.Graph.Output.Select(o => o.Name));
        harness.AssertBitIdentical(name, model);
    }

    [Fact]
    public void Identity_feeding_a_graph_output_renames_its_producer()
    {
        var model = Model(
            [Node("Neg", ["x"], ["n"]), Node("Identity", ["n"], ["y"]), Node("Abs", ["n"], ["z"])],
            [Value("x", ElementType.Float, 2)], [Value("y", ElementType.Float, 2), Value("z", ElementType.Float, 2)]);
        var result = harness.Apply(new RemoveIdentityPass(), model);

        Assert.Equal(1L, PassHarness.Result<RemoveIdentityResult>(result).IdentityRemoved);
        Assert.Equal(["Neg", "Abs"], model.Proto.Graph.Node.Select(n => n.OpType));
        Assert.Equal(["y"], model.Proto.Graph.Node[0].Output);
        Assert.Equal(["y"], model.Proto.Graph.Node[1].Input);
        var outputs = Run(model, harness.Temp, ("x", TensorCodec.FromSingle("x", [2], [1f, -2f], ElementType.Float)));
        Assert.Equal([-1f, 2f], outputs[0]);
        Assert.Equal([1f, 2f], outputs[1]);
    }

    [Fact]
    public void Identity_between_a_graph_input_and_a_graph_output_stays()
    {
        var model = Model([Node("Identity", ["x"], ["y"])], [Value("x", ElementType.Float, 2)], [Value("y", ElementType.Float, 2)]);
        var result = harness.Apply(new RemoveIdentityPass(), model);
        Assert.Equal(0L, PassHarness.Result<RemoveIdentityResult>(result).IdentityRemoved);
        Assert.Equal(1L, PassHarness.Result<RemoveIdentityResult>(result).Kept);
        Assert.Single(model.Proto.Graph.Node);
    }

    [Fact]
    public void Identity_read_inside_a_subgraph_is_bypassed_there_too()
    {
        var branch = new GraphProto { Name = "then" };
        branch.Node.Add(Node("Abs", ["i"], ["inner"]));
        branch.Output.Add(Value("inner", ElementType.Float, 2));
        var elseBranch = new GraphProto { Name = "else" };
        elseBranch.Node.Add(Node("Identity", ["i"], ["other"]));
        elseBranch.Output.Add(Value("other", ElementType.Float, 2));
        var ifNode = Node("If", ["c"], ["y"]);
        ifNode.Attribute.Add(Graph("then_branch", branch));
        ifNode.Attribute.Add(Graph("else_branch", elseBranch));
        var model = Model([Node("Neg", ["x"], ["n"]), Node("Identity", ["n"], ["i"]), ifNode],
            [Value("x", ElementType.Float, 2), Value("c", ElementType.Bool)], [Value("y", ElementType.Float, 2)]);

        var result = harness.Apply(new RemoveIdentityPass(), model);

        // The else branch's Identity reads an outer value and writes the branch output: it has no producer to rename, so it stays.
        Assert.Equal(1L, PassHarness.Result<RemoveIdentityResult>(result).IdentityRemoved);
        Assert.Equal(1L, PassHarness.Result<RemoveIdentityResult>(result).Kept);
        Assert.Equal("n", branch.Node[0].Input[0]);
        Assert.Equal("n", elseBranch.Node[0].Input[0]);
        var outputs = Run(model, harness.Temp, ("x", TensorCodec.FromSingle("x", [2], [1f, -2f], ElementType.Float)),
            ("c", TensorCodec.FromRaw("c", [], ElementType.Bool, [1])));
        Assert.Equal([1f, 2f], outputs[0]);
    }

    [Fact]
    public void Dropout_is_removed_only_when_it_is_a_no_op()
    {
        var training = TensorCodec.FromRaw("training", [], ElementType.Bool, [0]);
        var model = Model(
            [Constant("training", training), Node("Dropout", ["x", "", "training"], ["d"]), Node("Dropout", ["d"], ["y", "mask"])],
            [Value("x", ElementType.Float, 2)], [Value("y", ElementType.Float, 2), Value("mask", ElementType.Bool, 2)]);
        var result = harness.Apply(new RemoveIdentityPass(), model);

        Assert.Equal(1L, PassHarness.Result<RemoveIdentityResult>(result).DropoutRemoved);
        Assert.Equal("x", model.Proto.Graph.Node.Single(n => n.OpType == "Dropout").Input[0]); // the one whose mask is an output stays
    }

    /// <summary>Puts an Identity after every node output; returns how many were added.</summary>
    private static int ThreadIdentities(OnnxModel model)
    {
        var graph = model.MainGraph;
        var added = 0;
        foreach (var node in model.Proto.Graph.Node.ToList())
        {
            for (var i = 0; i < node.Output.Count; i++)
            {
                var output = node.Output[i];
                if (graph.IsGraphOutput(output))
                {
                    node.Output[i] = output + "_before_identity";
                    graph.AddNode(Node("Identity", [node.Output[i]], [output], $"threaded_{added++}"));
                }
                else if (graph.Consumers(output).Count > 0)
                {
                    graph.ReplaceAllUses(output, output + "_after_identity");
                    graph.AddNode(Node("Identity", [output], [output + "_after_identity"], $"threaded_{added++}"));
                }
            }
        }

        graph.SortTopologically();
        return added;
    }
}
