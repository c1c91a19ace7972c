using Compression.Core.Diagnostics;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Inspection;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Options;
using Compression.Core.Passes;
using Compression.Core.Passes.Graph;
using Compression.Core.Pruning.Sparsity;

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
        ThrowIfQuantized(model);
        OptionChecks.ThrowIfInvalid(options, model.Path);
        options = options.WithConcreteDefaults();
        IPruner pruner = options.Method == PruningMethod.Structured ? new Structured.StructuredPruner() : new SparsePruner();
        return options.Schedule is { Steps: > 1 } schedule
            ? IterativePruning.Run(model, options, schedule, pruner, context)
            : pruner.Prune(model, options, context);
    }

    /// <summary>
    /// What pruning would do, one line per layer or group (for -WhatIf): the weights unstructured or N:M pruning would
    /// zero; the groups structured pruning would shrink, and the layers it leaves alone with the reason.
    /// </summary>
    public static IReadOnlyList<string> PlanLayers(OnnxModel model, PruneOptions options)
    {
        ThrowIfQuantized(model);
        if (options.Method != PruningMethod.Structured)
        {
            return SparsePruner.Plan(model, options);
        }

        var plan = Structured.StructuredPruner.Plan(model, options);
        var lines = new List<string>(plan.Groups.Count + plan.Skipped.Count);
        foreach (var group in plan.Groups)
        {
            lines.Add($"{group.Name} ({group.Kind}): remove {group.Removed} of {group.Units} units from {string.Join(", ", group.Layers)}; " +
                $"{group.Tensors.Count} tensor(s) shrink{(group.Consumers.Count > 0 ? $", consumers {string.Join(", ", group.Consumers)}" : "")}");
        }

        foreach (var skipped in plan.Skipped)
        {
            lines.Add($"left alone: {string.Join(", ", skipped.Layers)}: {skipped.Reason}");
        }

        lines.AddRange(plan.UnmatchedLayers.Select(p => $"layers '{p}': matches no producing layer of a group, so it has no effect"));

        return lines;
    }

    private static void ThrowIfQuantized(OnnxModel model) =>
        QuantizedModelCheck.ThrowIfNotFloat(model, ErrorCodes.QuantizedModelRefused, "Pruning",
            "prune the float model, then quantize (put prune before quantize in the steps).");
}

/// <summary>Prunes a model by one method; the <c>prune</c> pass picks the pruner by <see cref="PruneOptions.Method"/>.</summary>
internal interface IPruner
{
    /// <summary>
    /// Rewrites the model; returns it with a <see cref="PruneResult"/> and its per-layer rows (shape before and after,
    /// sparsity, what was done, reconstruction error). Never returns a model ONNX Runtime cannot load.
    /// </summary>
    PassResult Prune(OnnxModel model, PruneOptions options, PassContext context);
}
