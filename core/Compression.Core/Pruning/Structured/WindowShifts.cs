using Compression.Core.Onnx.Protobuf;

namespace Compression.Core.Pruning.Structured;

/// <summary>
/// Keeps the windows of groups that share a tensor axis (inputs of one Concat along the channels) right while they
/// are pruned one after another: a window's offset, found on the original graph, moves down by the indices earlier
/// groups removed before it on the same tensor, reader and axis.
/// </summary>
internal sealed class WindowShifts(IReadOnlyDictionary<NodeProto, int> order)
{
    private readonly Dictionary<(int Node, int Input, int Axis), List<(long Offset, long Removed)>> removed = [];

    /// <summary>The group with its windows' offsets as the graph is now.</summary>
    public ChannelGroup Current(ChannelGroup group)
    {
        if (group.Tensors.All(t => t.Window is null))
        {
            return group;
        }

        var moved = new Dictionary<CoupledTensor, CoupledTensor>(ReferenceEqualityComparer.Instance);
        foreach (var tensor in group.Tensors)
        {
            moved[tensor] = tensor.Window is { } window && removed.TryGetValue(Key(tensor), out var before)
                ? tensor with { Window = window with { Offset = window.Offset - before.Where(r => r.Offset < window.Offset).Sum(r => r.Removed) } }
                : tensor;
        }

        return new ChannelGroup
        {
            Kind = group.Kind,
            Units = group.Units,
            Producers = group.Producers,
            Tensors = group.Tensors.Select(t => moved[t]).ToList(),
            Shapes = group.Shapes,
            Depthwise = group.Depthwise,
            Splits = group.Splits,
            Consumers = group.Consumers.Select(c => c with { Weight = moved[c.Weight] }).ToList(),
            Values = group.Values,
        };
    }

    /// <summary>Notes the axis indices the group (as found) removed from each of its windows.</summary>
    public void Record(ChannelGroup group, IReadOnlyCollection<int> kept)
    {
        foreach (var tensor in group.Tensors)
        {
            if (tensor.Window is not { } window)
            {
                continue;
            }

            var gone = window.Count - kept.Count(u => u >= window.First && u < window.First + window.Count);
            if (!removed.TryGetValue(Key(tensor), out var list))
            {
                removed[Key(tensor)] = list = [];
            }

            list.Add((window.Offset, (long)gone * tensor.Block));
        }
    }

    private (int, int, int) Key(CoupledTensor tensor) => (order[tensor.Readers[0].Node], tensor.Readers[0].Input, tensor.Axis);
}
