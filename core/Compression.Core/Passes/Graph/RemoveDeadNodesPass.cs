using Compression.Core.Onnx;

namespace Compression.Core.Passes.Graph;

/// <summary>Removes nodes whose outputs nobody reads and initializers nobody reads, in every graph.</summary>
public sealed class RemoveDeadNodesPass : Pass<NoOptions>
{
    public override string Name => "remove_dead_nodes";

    public override string Description => "Removes nodes whose outputs are never read and initializers nobody uses, subgraphs included.";

    protected override PassResult Run(OnnxModel model, NoOptions options, PassContext context)
    {
        var initializersBefore = CountInitializers(model);
        var nodes = model.MainGraph.RemoveDeadNodes();
        var initializers = initializersBefore - CountInitializers(model);
        context.Log.Verbose($"remove_dead_nodes: removed {nodes} nodes and {initializers} initializers.");
        return new PassResult(model, new RemoveDeadNodesResult(nodes, initializers));
    }

    private static int CountInitializers(OnnxModel model)
    {
        var count = 0;
        foreach (var graph in ModelWalker.GraphAndSubgraphs(model.Proto.Graph))
        {
            count += graph.Initializer.Count;
        }

        return count;
    }
}

/// <summary>Nodes and initializers no graph output depends on, removed.</summary>
public sealed record RemoveDeadNodesResult(int NodesRemoved, int InitializersRemoved) : StepResult;
