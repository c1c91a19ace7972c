using Compression.Core.Onnx;
using Compression.Core.Onnx.Graphs;

namespace Compression.Core.Passes.Graph;

/// <summary>
/// Turns the main graph's Constant nodes into initializers named after their outputs, so passes that rewrite
/// weights find every weight in one place. Subgraph Constants stay: a body's constants are few and small (loop
/// bounds, axes), subgraph initializers need IR 4, and passes read either form through the same lookup.
/// A sparse_value Constant stays too (it would have to become a sparse initializer, which runtimes handle unevenly),
/// and so does a Constant whose output is a graph output.
/// </summary>
public sealed class ConstantsToInitializersPass : Pass<NoOptions>
{
    public override string Name => "constants_to_initializers";

    public override string Description => "Moves the values of the main graph's Constant nodes into initializers.";

    protected override PassResult Run(OnnxModel model, NoOptions options, PassContext context)
    {
        var graph = model.MainGraph;
        var converted = 0;
        var skippedSparse = 0;
        foreach (var node in graph.Proto.Node.ToList())
        {
            if (!ConstantSources.IsConstantNode(node) || graph.IsGraphOutput(node.Output[0]))
            {
                continue;
            }

            if (ConstantSources.DenseValue(node) is not { } value)
            {
                skippedSparse++;
                context.Log.Verbose($"constants_to_initializers: kept the sparse Constant '{node.Output[0]}'.");
                continue;
            }

            // value_float(s), value_int(s) and value_string(s) come back as fresh tensors; a `value` tensor is the node's own.
            var tensor = value.Clone();
            tensor.Name = node.Output[0];
            graph.RemoveNode(node);
            graph.SetInitializer(tensor);
            converted++;
        }

        context.Log.Verbose($"constants_to_initializers: {converted} Constant nodes became initializers; {skippedSparse} sparse ones stayed.");
        return new PassResult(model, new ConstantsToInitializersResult(converted, skippedSparse));
    }
}

/// <summary>Constant nodes turned into initializers, and sparse constants left as they were.</summary>
public sealed record ConstantsToInitializersResult(int Converted, int SkippedSparse) : StepResult;
