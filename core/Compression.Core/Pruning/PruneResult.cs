using Compression.Core.Passes;

namespace Compression.Core.Pruning;

/// <summary>What the <c>prune</c> step did; its <see cref="StepResult.Layers"/> hold one row per layer it pruned or left dense.</summary>
public abstract record PruneResult : StepResult
{
    /// <summary>The steps of a pruning schedule (<c>schedule.steps</c> above 1) in order, up to the first that missed <c>stop_when</c>; null without one.</summary>
    public IReadOnlyList<ScheduleStep>? Schedule { get; init; }
}

/// <summary>
/// Unstructured or N:M pruning: how many weights are now zero, how the kept ones were refit, and how the zeros are stored.
/// A layer's <see cref="LayerRow.Action"/> names the criterion that chose its zeros, or why it stayed dense.
/// </summary>
public sealed record SparsePruneResult(string Method, string Criterion, string Scope) : PruneResult
{
    public int PrunedLayers { get; init; }

    public long PrunedWeights { get; init; }

    public long PrunableWeights { get; init; }

    /// <summary>Zeros over the prunable weights.</summary>
    public double Sparsity { get; init; }

    public string Reconstruction { get; init; } = "none";

    public int SparseInitializers { get; init; }

    public string? Storage { get; init; }
}

/// <summary>Structured pruning: the groups of channels, neurons and heads it shrank, and the layers it left alone with the reason.</summary>
public sealed record StructuredPruneResult(string Criterion, int Groups, IReadOnlyDictionary<string, string> Skipped) : PruneResult
{
    public int HeadsRemoved { get; init; }

    public int NeuronsRemoved { get; init; }

    public int ChannelsRemoved { get; init; }

    public bool Reconstructed { get; init; }
}

/// <summary>A pruning schedule none of whose steps met <c>stop_when</c>: the model is left unpruned; <see cref="PruneResult.Schedule"/> says why.</summary>
public sealed record UnprunedResult : PruneResult;

/// <summary>One step of a pruning schedule: how far it went, whether it met <c>stop_when</c>, and each check's message.</summary>
public sealed record ScheduleStep(int Step, bool Met, IReadOnlyList<string> Checks)
{
    public double? Sparsity { get; init; }

    public int? Heads { get; init; }

    public double? Neurons { get; init; }

    public double? Channels { get; init; }
}
