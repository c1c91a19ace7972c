using Compression.Core.Onnx;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;

namespace Compression.Core.Passes.Graph;

/// <summary>
/// Turns the main graph's initializers into Constant nodes placed first in the node list, for runtimes and tools
/// that want weights in nodes. An initializer listed among the graph inputs (every initializer of an IR &lt; 4 model,
/// usually) is a default the caller may override, not a constant: it stays, and the input list is untouched.
/// </summary>
public sealed class InitializersToConstantsPass : Pass<NoOptions>
{
    public override string Name => "initializers_to_constants";

    public override string Description => "Moves the main graph's initializers (those that are not graph inputs) into Constant nodes.";

    protected override PassResult Run(OnnxModel model, NoOptions options, PassContext context)
    {
        var graph = model.MainGraph;
        var nodeNames = graph.Proto.Node.Select(n => n.Name).ToHashSet(StringComparer.Ordinal);
        var constants = new List<NodeProto>();
        var keptAsInputs = 0;
        foreach (var tensor in graph.Proto.Initializer.ToList())
        {
            if (GraphScopes.IsGraphInput(graph, tensor.Name))
            {
                keptAsInputs++;
                continue;
            }

            var constant = new NodeProto { OpType = "Constant", Name = GraphScopes.UniqueName(nodeNames, tensor.Name) };
            constant.Output.Add(tensor.Name);
            constant.Attribute.Add(new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = tensor });
            constants.Add(constant);
            graph.RemoveInitializer(tensor.Name);
        }

        var others = graph.Proto.Node.ToList();
        graph.Proto.Node.Clear();
        graph.Proto.Node.AddRange(constants);
        graph.Proto.Node.AddRange(others);
        context.Log.Verbose($"initializers_to_constants: {constants.Count} initializers became Constant nodes; {keptAsInputs} listed as graph inputs stayed.");
        return new PassResult(model, new InitializersToConstantsResult(constants.Count, keptAsInputs));
    }
}

/// <summary>Initializers turned into Constant nodes, and those kept because they are also graph inputs.</summary>
public sealed record InitializersToConstantsResult(int Converted, int KeptAsInputs) : StepResult;
