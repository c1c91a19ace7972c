using Compression.Core.Diagnostics;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Tests.Support;

namespace Compression.Core.Tests.Onnx;

public sealed class GraphTests
{
    [Fact]
    public void Sorts_topologically_and_indexes_producers_and_consumers()
    {
        var model = Model(Node("Relu", ["b"], ["c"], "second"), Node("Neg", ["x"], ["b"], "first"), Node("Add", ["c", "b"], ["y"], "third"));
        var graph = model.MainGraph;
        Assert.Equal(["first", "second", "third"], graph.TopologicalOrder().Select(n => n.Name));
        Assert.Equal("first", graph.Producer("b")!.Name);
        Assert.Equal(["second", "third"], graph.Consumers("b").Select(n => n.Name));
        Assert.Null(graph.Producer("x"));

        Assert.Contains(GraphChecker.Check(model), d => d.Message.Contains("before it is produced", StringComparison.Ordinal));
        graph.SortTopologically();
        Assert.Empty(GraphChecker.Check(model));
    }

    [Fact]
    public void Values_read_inside_a_subgraph_count_as_inputs_of_the_holding_node()
    {
        var branch = new GraphProto { Name = "then" };
        branch.Node.Add(Node("Identity", ["outer"], ["inner"], "reads_outer"));
        branch.Output.Add(Value("inner"));
        var ifNode = Node("If", ["cond"], ["y"], "if");
        ifNode.Attribute.Add(new AttributeProto { Name = "then_branch", Type = AttributeProto.Types.AttributeType.Graph, G = branch });
        ifNode.Attribute.Add(new AttributeProto { Name = "else_branch", Type = AttributeProto.Types.AttributeType.Graph, G = branch.Clone() });
        var model = Model(ifNode, Node("Neg", ["x"], ["outer"], "producer"), Node("Neg", ["x"], ["cond"], "cond"));
        var graph = model.MainGraph;

        Assert.Equal(["outer"], graph.ImplicitInputs(ifNode));
        Assert.Contains(ifNode, graph.Consumers("outer"));
        Assert.Equal("if", graph.TopologicalOrder()[^1].Name);
        Assert.Equal(5, graph.AllNodes().Count()); // three in the main graph, one in each branch

        graph.SortTopologically();
        Assert.Equal(0, graph.RemoveDeadNodes());
        Assert.Empty(GraphChecker.Check(model));

        graph.ReplaceAllUses("outer", "x");
        Assert.Equal("x", branch.Node[0].Input[0]);
        Assert.Equal(1, graph.RemoveDeadNodes());
        Assert.DoesNotContain(model.Proto.Graph.Node, n => n.Name == "producer");
    }

    [Fact]
    public void Dead_nodes_and_unused_initializers_are_removed()
    {
        var model = Model(Node("Neg", ["x"], ["y"], "live"), Node("Relu", ["w"], ["unused"], "dead"), Node("Relu", ["unused"], ["unused2"], "dead2"));
        model.Proto.Graph.Initializer.Add(TensorCodec.FromSingle("w", [1], [1f], ElementType.Float));
        Assert.Equal(2, model.MainGraph.RemoveDeadNodes());
        Assert.Equal(["live"], model.Proto.Graph.Node.Select(n => n.Name));
        Assert.Empty(model.Proto.Graph.Initializer);
    }

    [Fact]
    public void Edits_keep_the_index_in_step()
    {
        var model = Model(Node("Neg", ["x"], ["y"], "neg"));
        var graph = model.MainGraph;
        var neg = model.Proto.Graph.Node[0];
        var relu = Node("Relu", ["x"], ["r"], "relu");
        graph.InsertNodeBefore(neg, relu);
        neg.Input[0] = "r";
        graph.ReplaceNode(neg, Node("Abs", ["r"], ["y"], "abs"));
        Assert.Equal("abs", graph.Producer("y")!.Name);
        Assert.Equal(["abs"], graph.Consumers("r").Select(n => n.Name));

        graph.SetInitializer(TensorCodec.FromSingle("k", [1], [2f], ElementType.Float));
        graph.SetInitializer(TensorCodec.FromSingle("k", [1], [3f], ElementType.Float));
        Assert.Equal([3f], TensorCodec.ToSingle(graph.Initializer("k")!));
        Assert.True(graph.RemoveInitializer("k"));
        Assert.Null(graph.Initializer("k"));
        Assert.Empty(GraphChecker.Check(model));
    }

    [Fact]
    public void A_cycle_is_reported_not_looped_on()
    {
        var model = Model(Node("Add", ["x", "b"], ["a"], "one"), Node("Relu", ["a"], ["b"], "two"), Node("Neg", ["a"], ["y"], "three"));
        var error = Assert.Throws<CompressionException>(() => model.MainGraph.TopologicalOrder());
        Assert.Equal(ErrorCodes.GraphInvalid, error.Code);
        Assert.Contains("cycle", error.Message, StringComparison.Ordinal);
        Assert.Contains(GraphChecker.Check(model), d => d.Message.Contains("'b' before it is produced", StringComparison.Ordinal));
    }

    [Fact]
    public void Checker_finds_undefined_inputs_duplicates_types_and_domains()
    {
        var model = Model(Node("Neg", ["missing"], ["y"], "a"), Node("Neg", ["x"], ["y"], "a"), new NodeProto { OpType = "Custom", Domain = "my.ops", Output = { "z" } });
        model.Proto.Graph.Input.Add(new ValueInfoProto { Name = "w", Type = new TypeProto { TensorType = new() { ElemType = (int)ElementType.Int64 } } });
        model.Proto.Graph.Initializer.Add(TensorCodec.FromSingle("w", [1], [1f], ElementType.Float));
        model.Proto.Graph.Initializer.Add(TensorCodec.FromSingle("w", [1], [1f], ElementType.Float));

        var messages = GraphChecker.Check(model).Select(d => d.Message).ToList();
        Assert.Contains(messages, m => m.Contains("reads 'missing', which no node produces", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.Contains("'y' is written by node", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.Contains("more than one node is named 'a'", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.Contains("declared as int64 but its initializer holds float", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.Contains("initializer 'w' is defined twice", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.Contains("domain 'my.ops'", StringComparison.Ordinal));
        Assert.Throws<CompressionException>(() => GraphChecker.Validate(model));
    }

    [SkippableFact]
    public void Real_models_walk_completely()
    {
        var model = ModelLoader.Load(TestAssets.Require(TestAssets.PaddleOcr("ch_PP-OCRv4_det_infer.onnx"), "PaddleOCR detection model"));
        var graph = model.MainGraph;
        Assert.Equal(model.Proto.Graph.Node.Count, graph.TopologicalOrder().Count);
        foreach (var node in model.Proto.Graph.Node)
        {
            foreach (var output in node.Output)
            {
                Assert.Same(node, graph.Producer(output));
            }
        }

        Assert.Equal(0, graph.RemoveDeadNodes());
        Assert.Equal(11, model.OpsetVersion(""));
        Assert.Equal(model.OpsetVersion(""), model.OpsetVersion("ai.onnx"));
    }

    private static OnnxModel Model(params NodeProto[] nodes)
    {
        var graph = new GraphProto { Name = "g" };
        graph.Input.Add(Value("x"));
        graph.Output.Add(Value("y"));
        graph.Node.AddRange(nodes);
        var proto = new ModelProto { IrVersion = 8, Graph = graph };
        proto.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        return new OnnxModel(proto);
    }

    private static ValueInfoProto Value(string name) =>
        new() { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)ElementType.Float } } };

    private static NodeProto Node(string op, string[] inputs, string[] outputs, string name)
    {
        var node = new NodeProto { OpType = op, Name = name };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        return node;
    }
}
