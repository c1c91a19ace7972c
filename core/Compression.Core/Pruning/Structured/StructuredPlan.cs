namespace Compression.Core.Pruning.Structured;

/// <summary>A group that would be pruned: its layers, units, how many go and, for weight criteria, which.</summary>
public sealed record PlannedGroup(
    string Name,
    ChannelGroupKind Kind,
    int Units,
    int Removed,
    IReadOnlyList<string> Layers,
    IReadOnlyList<string> Consumers,
    IReadOnlyList<string> Tensors,
    IReadOnlyList<int>? RemovedUnits)
{
    internal ChannelGroup Group { get; init; } = null!;

    /// <summary>Units asked of the group; <see cref="Removed"/> is what its partitions allow of them.</summary>
    internal int Requested { get; init; }
}

/// <summary>What structured pruning would do to a model: the groups it prunes, and the layers it leaves alone with the reason.</summary>
public sealed record StructuredPlan(IReadOnlyList<PlannedGroup> Groups, IReadOnlyList<SkippedGroup> Skipped)
{
    /// <summary>The <c>layers</c> entries that match no producing layer of a group found: they have no effect.</summary>
    public IReadOnlyList<string> UnmatchedLayers { get; init; } = [];
}
