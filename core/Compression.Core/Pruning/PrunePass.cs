using Compression.Core.Onnx;
using Compression.Core.Passes;

namespace Compression.Core.Pruning;

/// <summary>
/// The <c>prune</c> step: picks the pruner for the method (unstructured, N:M, structured); each validates its
/// options and the model, and reports per layer what it removed and what it left alone and why.
/// </summary>
public sealed class PrunePass : Pass<PruneOptions>
{
    public override string Name => "prune";

    public override string Description =>
        "Prunes the model: unstructured or N:M sparsity with optional Hessian-based reconstruction, or structured removal of channels, neurons and attention heads that shrinks the model.";

    protected override PassResult Run(OnnxModel model, PruneOptions options, PassContext context)
    {
        IPruner pruner = options.Method switch
        {
            PruningMethod.Structured => new Structured.StructuredPruner(),
            _ => throw new NotSupportedException($"Pruning method {options.Method} is not built yet."),
        };
        return pruner.Prune(model, options, context);
    }
}

/// <summary>Prunes a model by one method; the <c>prune</c> pass picks the pruner by <see cref="PruneOptions.Method"/>.</summary>
internal interface IPruner
{
    /// <summary>
    /// Rewrites the model; returns it with statistics for the report, including a per-layer table (shape
    /// before/after, sparsity, criterion, reconstruction error). Never returns a model ONNX Runtime cannot load.
    /// </summary>
    PassResult Prune(OnnxModel model, PruneOptions options, PassContext context);
}
