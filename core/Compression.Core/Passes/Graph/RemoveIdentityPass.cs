using Compression.Core.Onnx;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;

namespace Compression.Core.Passes.Graph;

/// <summary>
/// Removes Identity nodes, and Dropout nodes that are no-ops at inference, by making their readers read the
/// input directly. When the output is a graph output, the producer's output is renamed to it instead; when the
/// input is a graph input, an initializer or an outer-scope value (no producer here to rename), the node stays.
/// </summary>
public sealed class RemoveIdentityPass : Pass<NoOptions>
{
    public override string Name => "remove_identity";

    public override string Description => "Removes Identity nodes and inference-time Dropout nodes, rewiring their readers.";

    protected override PassResult Run(OnnxModel model, NoOptions options, PassContext context)
    {
        var identities = 0;
        var dropouts = 0;
        var kept = 0;
        foreach (var graph in GraphScopes.InnermostFirst(model))
        {
            foreach (var node in graph.Proto.Node.ToList())
            {
                context.Cancellation.ThrowIfCancellationRequested();
                var isIdentity = node.OpType == "Identity" && GraphScopes.IsStandard(node);
                if (!isIdentity && !IsInferenceDropout(graph, node))
                {
                    continue;
                }

                if (!TryBypass(graph, node))
                {
                    kept++;
                    context.Log.Verbose($"remove_identity: kept {node.OpType} '{node.Output[0]}': it passes a graph input or constant straight to a graph output.");
                    continue;
                }

                if (isIdentity)
                {
                    identities++;
                }
                else
                {
                    dropouts++;
                }
            }
        }

        context.Log.Verbose($"remove_identity: removed {identities} Identity and {dropouts} Dropout nodes; kept {kept}.");
        return new PassResult(model, new RemoveIdentityResult(identities, dropouts, kept));
    }

    /// <summary>Dropout is a no-op when not training: no mask read, and training_mode (opset 12+) absent or constant false.</summary>
    private static bool IsInferenceDropout(OnnxGraph graph, NodeProto node)
    {
        if (node.OpType != "Dropout" || !GraphScopes.IsStandard(node))
        {
            return false;
        }

        if (node.Output.Count > 1 && node.Output[1].Length > 0 && (graph.Consumers(node.Output[1]).Count > 0 || graph.IsGraphOutput(node.Output[1])))
        {
            return false;
        }

        // Before opset 7, is_test=0 (the default) meant training.
        if (graph.OpsetVersion("") is < 7 && !node.Attribute.Any(a => a.Name == "is_test" && a.I != 0))
        {
            return false;
        }

        if (node.Input.Count < 3 || node.Input[2].Length == 0)
        {
            return true;
        }

        return ConstantSources.Find(graph, node.Input[2]) is { } training && Onnx.Tensors.TensorCodec.ToInt64(training) is [0];
    }

    private static bool TryBypass(OnnxGraph graph, NodeProto node)
    {
        var input = node.Input[0];
        var output = node.Output[0];
        if (!graph.IsGraphOutput(output))
        {
            graph.RemoveNode(node);
            graph.ReplaceAllUses(output, input);
            GraphScopes.RemoveValueInfo(graph, output);
            return true;
        }

        // The output name is part of the interface: the producer takes it over, if there is one and its own
        // output is not an interface name too.
        var producer = graph.Producer(input);
        if (producer is null || graph.IsGraphOutput(input))
        {
            return false;
        }

        graph.RemoveNode(node);
        graph.ReplaceAllUses(input, output);
        for (var i = 0; i < producer.Output.Count; i++)
        {
            if (producer.Output[i] == input)
            {
                producer.Output[i] = output;
            }
        }

        GraphScopes.RemoveValueInfo(graph, input);
        return true;
    }
}

/// <summary>Identity and inference-time Dropout nodes removed, and those kept (they name a graph output).</summary>
public sealed record RemoveIdentityResult(int IdentityRemoved, int DropoutRemoved, int Kept) : StepResult;
