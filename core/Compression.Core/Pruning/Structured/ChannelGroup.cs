using Compression.Core.Onnx.Protobuf;

namespace Compression.Core.Pruning.Structured;

/// <summary>What the units of a group are.</summary>
public enum ChannelGroupKind
{
    /// <summary>Output channels of Conv layers.</summary>
    ConvChannels,

    /// <summary>Neurons (output columns) of MatMul/Gemm layers.</summary>
    Neurons,

    /// <summary>Attention heads: a block of Q, K and V columns and of output-projection rows per head.</summary>
    AttentionHeads,
}

/// <summary>How a coupled tensor takes part in a group.</summary>
public enum CoupledRole
{
    /// <summary>A producing layer's weight: its output channels are the group's channels.</summary>
    Producer,

    /// <summary>A consuming layer's weight: its input channels (rows of the reduction) are the group's channels.</summary>
    Consumer,

    /// <summary>A per-channel parameter: a bias, a BatchNormalization parameter, an element-wise constant.</summary>
    Parameter,
}

/// <summary>
/// Where a tensor holds only some of the group's units, beside channels that are not the group's (after a Concat
/// along the channels, or in one piece of a Split): units [<see cref="First"/>, First + <see cref="Count"/>) sit at
/// axis indices from <see cref="Offset"/> on, the rest of the axis belongs to other layers and is kept.
/// </summary>
public sealed record UnitWindow(long Offset, int First, int Count);

/// <summary>
/// A constant tensor tied to a group: unit u of the group covers indices [u * Block, (u + 1) * Block) of
/// <see cref="Axis"/>, or, with a <see cref="Window"/>, [Offset + (u - First) * Block, ...) for the window's units
/// only. <see cref="Readers"/> are the (node, input index) pairs of the group that read it; a tensor that other
/// nodes read too is copied for the group, never shrunk under them.
/// </summary>
public sealed record CoupledTensor(string Name, int Axis, int Block, CoupledRole Role, IReadOnlyList<(NodeProto Node, int Input)> Readers)
{
    /// <summary>Null when the whole axis is the group's.</summary>
    public UnitWindow? Window { get; init; }

    /// <summary>The unit of each index of the axis (of <paramref name="axisSize"/> indices), -1 where the index is not the group's.</summary>
    public int[] AxisUnits(long axisSize)
    {
        var units = new int[axisSize];
        var (offset, first, count) = Window is { } w ? (w.Offset, w.First, w.Count) : (0L, 0, (int)(axisSize / Block));
        for (long a = 0; a < axisSize; a++)
        {
            var position = a - offset;
            units[a] = position >= 0 && position < (long)count * Block ? first + (int)(position / Block) : -1;
        }

        return units;
    }
}

/// <summary>One element of an int64 shape constant that names a size of the group: it becomes units kept x <see cref="PerUnit"/>.</summary>
public sealed record ShapeEdit(string Tensor, int Index, long PerUnit, NodeProto Reader, int Input);

/// <summary>
/// A Split along the channels whose piece <see cref="Piece"/> holds the group's units [First, First + Count): that
/// piece's size loses the units removed from the window. <see cref="Sizes"/> are the piece sizes the Split had when
/// the group was found (written out when the Split had none, i.e. split into equal parts).
/// </summary>
public sealed record SplitEdit(NodeProto Split, int Piece, int First, int Count, IReadOnlyList<long> Sizes);

/// <summary>
/// A layer that reads the group's channels as its reduction dimension: the weights reconstruction refits. Its
/// input <see cref="Input"/> is captured on calibration data; for a Conv the refit works on im2col patches.
/// </summary>
public sealed record GroupConsumer(NodeProto Node, string Input, CoupledTensor Weight);

/// <summary>
/// Channels of several layers that must be removed together: the producing layers' output channels, every
/// per-channel parameter on the way, the consuming layers' input channels, and the shape constants that count
/// them. Found on the graph by <see cref="GroupFinder"/>.
/// </summary>
public sealed class ChannelGroup
{
    public required ChannelGroupKind Kind { get; init; }

    /// <summary>Units of the group (channels, neurons or heads).</summary>
    public required int Units { get; init; }

    /// <summary>The layers whose outputs the units are.</summary>
    public required IReadOnlyList<NodeProto> Producers { get; init; }

    public required IReadOnlyList<CoupledTensor> Tensors { get; init; }

    public required IReadOnlyList<ShapeEdit> Shapes { get; init; }

    /// <summary>Depthwise Convs inside the group: their <c>group</c> attribute (their channel count) loses the removed units.</summary>
    public required IReadOnlyList<NodeProto> Depthwise { get; init; }

    /// <summary>Splits along the channels inside the group, one entry per piece that holds some of its units.</summary>
    public IReadOnlyList<SplitEdit> Splits { get; init; } = [];

    /// <summary>
    /// Ranges of units (first, count) that each lose the same share: the conv groups of a grouped convolution among the
    /// producers (their sizes must stay equal), the pieces of a Split (none may become empty). Empty: any units may go.
    /// </summary>
    public IReadOnlyList<(int First, int Count)> Partitions { get; init; } = [];

    /// <summary>
    /// How many units go from each partition when <paramref name="remove"/> should go in all: the same share of each,
    /// rounded down, at least one unit left in each. Without partitions, one entry for all the units.
    /// </summary>
    public IReadOnlyList<(int First, int Count, int Remove)> Removals(int remove)
    {
        if (Partitions.Count == 0)
        {
            return [(0, Units, remove)];
        }

        return Partitions.Select(p => (p.First, p.Count, Math.Min(p.Count - 1, (int)Math.Floor((double)remove * p.Count / Units + 1e-9)))).ToList();
    }

    public required IReadOnlyList<GroupConsumer> Consumers { get; init; }

    /// <summary>The activations whose shapes change (their value_info annotations are dropped).</summary>
    internal IReadOnlyList<string> Values { get; init; } = [];

    /// <summary>A readable name: the first producer's.</summary>
    public string Name => Describe(Producers[0]);

    /// <summary>Whether several layers are tied (e.g. by residual Adds).</summary>
    public bool IsCoupled => Kind != ChannelGroupKind.AttentionHeads && Producers.Count > 1;

    internal static string Describe(NodeProto node) => node.Name.Length > 0 ? node.Name : $"{node.OpType}:{node.Output[0]}";
}

/// <summary>A place where a group search stopped, and why the layers there are left alone.</summary>
public sealed record SkippedGroup(IReadOnlyList<string> Layers, string Reason)
{
    /// <summary>
    /// The op type when the search stopped at an op the channels could pass but structured pruning does not follow
    /// yet (a ConvTranspose): a gap of the tool rather than of the model, so pruning warns (CMP3480), not only says so verbosely.
    /// </summary>
    public string? NotSupported { get; init; }
}
