using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Passes.Graph;

namespace Compression.Core.Pruning.Structured;

/// <summary>
/// Finds channel groups on the graph, Torch-Pruning style: from each layer with a constant weight (Conv, MatMul,
/// Gemm) the output channels are followed forward and backward through the ops that keep them (one rule per op
/// type below), collecting every tensor tied to them, until every path ends in a layer that reads them as its
/// reduction dimension. A path that reaches an op without a rule, a graph output or a mismatching size ends the
/// search and the whole group is left alone, so a pruned model is never invalid. Past a Concat along the channels
/// the group's channels are a window of the concatenated ones (an offset); past a Split along them, each piece holds
/// a window of the group's units. A grouped convolution's output channels are pruned alike in each of its conv groups.
/// Nothing here depends on the spatial rank: the channel axis is counted from the end of a value whose rank is
/// known (a Conv's weight gives it), so Conv1d and Conv3d chains are followed like 2-D ones.
/// </summary>
internal static class GroupFinder
{
    private static readonly HashSet<string> Unary = new(StringComparer.Ordinal)
    {
        "Relu", "LeakyRelu", "PRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Erf", "Elu", "Selu", "Celu", "Gelu",
        "Softplus", "Softsign", "Mish", "ThresholdedRelu", "Identity", "Abs", "Neg", "Exp", "Log", "Sqrt", "Reciprocal",
        "Floor", "Ceil", "Round", "Sin", "Cos", "Cast", "Clip", "Dropout",
    };

    private static readonly HashSet<string> Elementwise = new(StringComparer.Ordinal) { "Add", "Sub", "Mul", "Div", "Max", "Min", "Sum", "Pow" };

    private static readonly HashSet<string> Pools = new(StringComparer.Ordinal)
    {
        "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "LpPool", "GlobalLpPool",
    };

    /// <summary>Reductions that, over other axes than the channels and keeping the dims, pool each channel alone (a squeeze-excite's ReduceMean).</summary>
    private static readonly HashSet<string> Reductions = new(StringComparer.Ordinal)
    {
        "ReduceMean", "ReduceMax", "ReduceMin", "ReduceSum", "ReduceL1", "ReduceL2", "ReduceLogSumExp", "ReduceSumSquare",
    };

    /// <summary>
    /// Every group the graph has besides <paramref name="claimed"/> layers (attention projections, found by
    /// <see cref="AttentionFinder"/>), and where a search stopped.
    /// </summary>
    public static (List<ChannelGroup> Groups, List<SkippedGroup> Skipped) Find(OnnxGraph graph, ISet<NodeProto> claimed)
    {
        var groups = new List<ChannelGroup>();
        var skipped = new List<SkippedGroup>();
        var seen = new HashSet<NodeProto>(ReferenceEqualityComparer.Instance);
        foreach (var node in graph.TopologicalOrder())
        {
            if (seen.Contains(node) || claimed.Contains(node) || !IsLayer(graph, node))
            {
                continue;
            }

            var search = new Search(graph, claimed);
            var group = search.Run(node);
            seen.UnionWith(search.Producers);
            seen.UnionWith(search.PassedThrough); // depthwise Convs the search went through: their channels are the group's

            if (group is not null)
            {
                groups.Add(group);
            }
            else
            {
                skipped.Add(new SkippedGroup(search.Producers.Select(ChannelGroup.Describe).ToList(), search.Failure!) { NotSupported = search.NotSupported });
            }
        }

        return (groups, skipped);
    }

    /// <summary>A Conv, MatMul or Gemm whose weight is a constant: a layer whose output channels can be removed.</summary>
    private static bool IsLayer(OnnxGraph graph, NodeProto node) =>
        GraphScopes.IsStandard(node) && node.OpType is "Conv" or "MatMul" or "Gemm" && node.Input.Count > 1
        && ConstantSources.Find(graph, node.Input[1]) is { } weight && IsFloat(weight)
        && (node.OpType == "Conv" || weight.Dims.Count == 2);

    /// <summary>One filter per input channel: the channels pass through such a Conv.</summary>
    private static bool IsDepthwise(NodeProto conv, TensorProto weight) =>
        IntAttribute(conv, "group", 1) is var groups && groups > 1 && groups == weight.Dims[0] && weight.Dims[1] == 1;

    internal static bool IsFloat(TensorProto tensor) => TensorCodec.ElementTypeOf(tensor) is ElementType.Float or ElementType.Float16
        or ElementType.BFloat16 or ElementType.Double;

    internal static long IntAttribute(NodeProto node, string name, long fallback) =>
        node.Attribute.FirstOrDefault(a => a.Name == name) is { } attribute ? attribute.I : fallback;

    /// <summary>
    /// Where a value holds the group's channels: a negative axis, the value's rank when known, whether it was flattened
    /// (channel x spatial blocks), and, past a Concat or Split along the channels, the window of the group's units
    /// among the value's <see cref="Total"/> channels (null: the value's channels are exactly the group's units).
    /// </summary>
    private readonly record struct ChannelAxis(int Axis, int? Rank, bool Flattened, UnitWindow? Window = null, long Total = 0)
    {
        public bool SameAs(ChannelAxis other) => Axis == other.Axis && Flattened == other.Flattened && Window == other.Window && (Window is null || Total == other.Total);
    }

    private sealed class TensorEntry(string name, int axis, bool flattened, CoupledRole role, UnitWindow? window, long total)
    {
        public string Name { get; } = name;

        public int Axis { get; } = axis;

        public bool Flattened { get; } = flattened;

        public CoupledRole Role { get; } = role;

        public UnitWindow? Window { get; } = window;

        /// <summary>Channels of the value the window is among (0 without a window).</summary>
        public long Total { get; } = total;

        public List<(NodeProto, int)> Readers { get; } = [];
    }

    /// <summary>One search from one layer; fails with the first reason a path cannot be followed.</summary>
    private sealed class Search(OnnxGraph graph, ISet<NodeProto> claimed)
    {
        private readonly Dictionary<string, ChannelAxis> values = new(StringComparer.Ordinal);
        private readonly Queue<string> queue = new();
        private readonly HashSet<NodeProto> visited = new(ReferenceEqualityComparer.Instance);
        private readonly Dictionary<string, TensorEntry> tensors = new(StringComparer.Ordinal);
        private readonly List<(string Tensor, int Index, NodeProto Reader, int Input)> shapes = [];
        private readonly List<NodeProto> depthwise = [];
        private readonly List<SplitEdit> splits = [];
        private readonly Dictionary<NodeProto, HashSet<string>> entered = new(ReferenceEqualityComparer.Instance);
        private readonly List<(NodeProto Node, string Input, string Weight)> consumers = [];
        private readonly List<(int First, int Count)> partitions = [];
        private int units = -1;

        public List<NodeProto> Producers { get; } = [];

        /// <summary>Depthwise Convs the channels went through.</summary>
        public IReadOnlyList<NodeProto> PassedThrough => depthwise;

        public string? Failure { get; private set; }

        /// <summary>The op type, when the search stopped at one the channels could pass but this search does not follow yet.</summary>
        public string? NotSupported { get; private set; }

        public ChannelGroup? Run(NodeProto seed)
        {
            visited.Add(seed);
            AddProducer(seed);
            while (Failure is null && queue.TryDequeue(out var value))
            {
                if (graph.IsGraphOutput(value))
                {
                    return Fail($"the channels reach the graph output '{value}'");
                }

                if (graph.Producer(value) is not { } producer)
                {
                    return Fail($"the channels come from the graph input '{value}'");
                }

                Visit(producer, value);
                foreach (var consumer in graph.Consumers(value))
                {
                    if (Failure is null)
                    {
                        Visit(consumer, value);
                    }
                }
            }

            return Failure is null ? Build() : null;
        }

        private ChannelGroup? Fail(string reason)
        {
            Failure ??= reason;
            return null;
        }

        private void Visit(NodeProto node, string value)
        {
            if (!visited.Add(node))
            {
                // A Concat or Split along the channels maps only the values it was entered from and joined; any other
                // of its inputs or outputs reached later carries channels that map was not made for.
                if (entered.TryGetValue(node, out var known) && !known.Contains(value))
                {
                    Fail($"{node.OpType} '{ChannelGroup.Describe(node)}' is reached through two of its inputs or outputs");
                }

                return;
            }

            var at = values[value];
            var described = $"{node.OpType} '{ChannelGroup.Describe(node)}'";
            if (!GraphScopes.IsStandard(node))
            {
                Fail($"{described} is outside the standard domain");
            }
            else if (claimed.Contains(node))
            {
                Fail($"{described} belongs to an attention block");
            }
            else if (node.OpType is "Conv" or "MatMul" or "Gemm")
            {
                VisitLayer(node, value, at, described);
            }
            else if (Unary.Contains(node.OpType))
            {
                for (var i = 1; i < node.Input.Count; i++)
                {
                    if (node.Input[i].Length > 0 && (ConstantSources.Find(graph, node.Input[i]) is not { } limit || TensorCodec.ElementCount(limit) != 1))
                    {
                        Fail($"{described} has a non-scalar or computed input '{node.Input[i]}'");
                        return;
                    }
                }

                OnlyFirstOutput(node, described);
                Join(node.Input[0], at, described);
                Join(node.Output[0], at, described);
            }
            else if (Pools.Contains(node.OpType))
            {
                if (at.Rank is not { } rank || at.Axis != 1 - rank)
                {
                    Fail($"{described} pools over an axis that is not the channel axis");
                    return;
                }

                OnlyFirstOutput(node, described);
                Join(node.Input[0], at, described);
                Join(node.Output[0], at, described);
            }
            else if (node.OpType == "BatchNormalization")
            {
                // Met forward through its input or backward through its output: the channels pass either way.
                if ((node.Input[0] != value && node.Output[0] != value) || at.Rank is not { } rank || at.Axis != 1 - rank)
                {
                    Fail($"{described} normalizes an axis that is not the channels");
                    return;
                }

                for (var i = 1; i < 5 && i < node.Input.Count; i++)
                {
                    AddTensor(node, i, 0, at, CoupledRole.Parameter, described);
                }

                OnlyFirstOutput(node, described);
                Join(node.Input[0], at, described);
                Join(node.Output[0], at, described);
            }
            else if (Elementwise.Contains(node.OpType))
            {
                VisitElementwise(node, at, described);
            }
            else if (node.OpType is "Flatten" or "Reshape")
            {
                VisitFlatten(node, value, at, described);
            }
            else if (node.OpType is "Concat" or "Split" && IsChannelAxis(node, at) is null)
            {
                Fail($"{described} works on axis {IntAttribute(node, "axis", 0)} of a value whose rank is not known");
            }
            else if (node.OpType == "Concat" && IsChannelAxis(node, at) == false)
            {
                foreach (var input in node.Input)
                {
                    Join(input, at, described);
                }

                Join(node.Output[0], at, described);
            }
            else if (node.OpType == "Concat")
            {
                VisitConcat(node, value, at, described);
            }
            else if (node.OpType == "Split")
            {
                VisitSplit(node, value, at, described);
            }
            else if (node.OpType == "Resize")
            {
                VisitResize(node, value, at, described);
            }
            else if (node.OpType == "Slice")
            {
                VisitSlice(node, value, at, described);
            }
            else if (node.OpType == "Pad")
            {
                VisitPad(node, value, at, described);
            }
            else if (node.OpType is "Squeeze" or "Unsqueeze")
            {
                VisitSqueeze(node, value, at, described);
            }
            else if (Reductions.Contains(node.OpType))
            {
                VisitReduction(node, value, at, described);
            }
            else if (node.OpType == "ConvTranspose")
            {
                // Its weight is [C_in, C_out / group, k...]: it could consume and produce channels, but the refit of a
                // transposed convolution (its patches scatter, not gather) is not written yet.
                NotSupported = node.OpType;
                Fail($"{described} is a transposed convolution, which structured pruning does not prune through yet");
            }
            else
            {
                Fail($"{described} has no channel rule");
            }
        }

        /// <summary>
        /// Concat along the channels, entered through one input: the group's units become a window of the output's
        /// channels at the offset of that input (the channels of the inputs before it, traced back to their layers).
        /// </summary>
        private void VisitConcat(NodeProto node, string value, ChannelAxis at, string described)
        {
            if (node.Output[0] == value)
            {
                Fail($"{described} makes the channels from several inputs (met from its output)");
                return;
            }

            if (at.Flattened || node.Input.Count(i => i == value) != 1)
            {
                Fail($"{described} concatenates the channels with themselves or flattened");
                return;
            }

            long offset = 0, total = 0;
            var before = true;
            foreach (var input in node.Input)
            {
                before &= input != value;
                long? size = input == value ? Size(at) : ChannelCount(input, at, 0);
                if (size is null)
                {
                    Fail($"{described}: the channel count of its input '{input}' is not known (no layer or shape gives it)");
                    return;
                }

                offset += before ? size.Value : 0;
                total += size.Value;
            }

            var window = at.Window is { } w ? w with { Offset = w.Offset + offset } : new UnitWindow(offset, 0, units);
            entered[node] = new HashSet<string>(StringComparer.Ordinal) { value, node.Output[0] };
            Join(node.Output[0], at with { Window = window, Total = total }, described);
        }

        /// <summary>
        /// Split along the channels with sizes that are constant (or equal parts): each piece that holds some of the
        /// group's units carries them as a window, and its size shrinks with them. Pieces without any are unchanged.
        /// </summary>
        private void VisitSplit(NodeProto node, string value, ChannelAxis at, string described)
        {
            if (node.Input[0] != value)
            {
                Fail($"{described} is met from one of its pieces (the channels are split, not joined)");
                return;
            }

            if (IsChannelAxis(node, at) == false)
            {
                foreach (var output in node.Output)
                {
                    Join(output, at, described);
                }

                return;
            }

            if (at.Flattened)
            {
                Fail($"{described} splits flattened channels");
                return;
            }

            var size = Size(at);
            long[] sizes;
            if (node.Input.Count > 1 && node.Input[1].Length > 0)
            {
                if (ConstantSources.Find(graph, node.Input[1]) is not { } constant)
                {
                    Fail($"{described} has computed split sizes");
                    return;
                }

                sizes = TensorCodec.ToInt64(constant);
            }
            else if (node.Attribute.FirstOrDefault(a => a.Name == "split") is { Ints.Count: > 0 } attribute)
            {
                sizes = attribute.Ints.ToArray();
            }
            else if (size % node.Output.Count == 0)
            {
                sizes = Enumerable.Repeat(size / node.Output.Count, node.Output.Count).ToArray();
            }
            else
            {
                Fail($"{described} splits {size} channels into {node.Output.Count} parts that are not equal");
                return;
            }

            if (sizes.Length != node.Output.Count || sizes.Sum() != size)
            {
                Fail($"{described} has split sizes [{string.Join(", ", sizes)}] that do not add up to its {size} channels");
                return;
            }

            var (offset, first, count) = at.Window is { } w ? (w.Offset, w.First, w.Count) : (0L, 0, units);
            long start = 0;
            var joined = new HashSet<string>(StringComparer.Ordinal) { value };
            for (var k = 0; k < sizes.Length; k++)
            {
                long low = Math.Max(offset, start), high = Math.Min(offset + count, start + sizes[k]);
                if (low < high)
                {
                    var window = new UnitWindow(low - start, first + (int)(low - offset), (int)(high - low));
                    splits.Add(new SplitEdit(node, k, window.First, window.Count, sizes));
                    partitions.Add((window.First, window.Count));
                    joined.Add(node.Output[k]);
                    Join(node.Output[k], at with { Window = window, Total = sizes[k] }, described);
                }

                start += sizes[k];
            }

            entered[node] = joined;
        }

        /// <summary>Resize scales each channel's plane alone: the channels pass when the channel axis keeps scale 1 and no constant sizes count it.</summary>
        private void VisitResize(NodeProto node, string value, ChannelAxis at, string described)
        {
            if ((node.Input[0] != value && node.Output[0] != value) || at.Flattened || at.Rank is not { } rank)
            {
                Fail($"{described} resizes a value whose rank is not known");
                return;
            }

            var scalesInput = (graph.OpsetVersion("") ?? 11) < 11 ? 1 : 2;
            if (node.Input.Count > 3 && node.Input[3].Length > 0)
            {
                Fail($"{described} resizes to given sizes, which count the channels");
                return;
            }

            if (node.Input.Count <= scalesInput || ConstantSources.Find(graph, node.Input[scalesInput]) is not { } scalesTensor)
            {
                Fail($"{described} has computed scales");
                return;
            }

            var scales = TensorCodec.ToSingle(scalesTensor);
            var axes = node.Attribute.FirstOrDefault(a => a.Name == "axes") is { Ints.Count: > 0 } given
                ? given.Ints.Select(a => (int)(a < 0 ? a : a - rank)).ToArray()
                : Enumerable.Range(-rank, rank).ToArray();
            var position = Array.IndexOf(axes, at.Axis);
            if (axes.Length != scales.Length || (position >= 0 && scales[position] != 1))
            {
                Fail($"{described} scales the channel axis");
                return;
            }

            OnlyFirstOutput(node, described);
            Join(node.Input[0], at, described);
            Join(node.Output[0], at, described);
        }

        /// <summary>Slice on other axes than the channels passes them; slicing the channels is not followed.</summary>
        private void VisitSlice(NodeProto node, string value, ChannelAxis at, string described)
        {
            if ((node.Input[0] != value && node.Output[0] != value) || at.Rank is not { } rank || at.Flattened)
            {
                Fail($"{described} slices a value whose rank is not known");
                return;
            }

            long[] axes;
            if ((graph.OpsetVersion("") ?? 10) < 10)
            {
                axes = node.Attribute.FirstOrDefault(a => a.Name == "axes") is { Ints.Count: > 0 } given
                    ? given.Ints.ToArray()
                    : Enumerable.Range(0, node.Attribute.First(a => a.Name == "starts").Ints.Count).Select(a => (long)a).ToArray();
            }
            else if (node.Input.Count > 3 && node.Input[3].Length > 0)
            {
                if (ConstantSources.Find(graph, node.Input[3]) is not { } constant)
                {
                    Fail($"{described} slices computed axes");
                    return;
                }

                axes = TensorCodec.ToInt64(constant);
            }
            else if (ConstantSources.Find(graph, node.Input[1]) is { } starts)
            {
                axes = Enumerable.Range(0, (int)TensorCodec.ElementCount(starts)).Select(a => (long)a).ToArray();
            }
            else
            {
                Fail($"{described} slices computed axes");
                return;
            }

            if (axes.Any(a => (a < 0 ? a : a - rank) == at.Axis))
            {
                Fail($"{described} slices the channels (not followed)");
                return;
            }

            Join(node.Input[0], at, described);
            Join(node.Output[0], at, described);
        }

        /// <summary>Pad with constant pads that leave the channel axis alone pads each channel's own positions: the channels pass (any rank, any mode).</summary>
        private void VisitPad(NodeProto node, string value, ChannelAxis at, string described)
        {
            if ((node.Input[0] != value && node.Output[0] != value) || at.Rank is not { } rank || at.Flattened)
            {
                Fail($"{described} pads a value whose rank is not known");
                return;
            }

            long[] pads;
            if ((graph.OpsetVersion("") ?? 11) < 11)
            {
                pads = node.Attribute.FirstOrDefault(a => a.Name == "pads")?.Ints.ToArray() ?? [];
            }
            else if (node.Input.Count > 1 && ConstantSources.Find(graph, node.Input[1]) is { } constant)
            {
                pads = TensorCodec.ToInt64(constant);
            }
            else
            {
                Fail($"{described} has computed pads");
                return;
            }

            // Opset 18 may name the axes the pads are for; otherwise they are every axis, begins then ends.
            long[] axes;
            if (node.Input.Count > 3 && node.Input[3].Length > 0)
            {
                if (ConstantSources.Find(graph, node.Input[3]) is not { } given)
                {
                    Fail($"{described} pads computed axes");
                    return;
                }

                axes = TensorCodec.ToInt64(given);
            }
            else
            {
                axes = Enumerable.Range(0, rank).Select(a => (long)a).ToArray();
            }

            if (pads.Length != 2 * axes.Length)
            {
                Fail($"{described} has {pads.Length} pads for {axes.Length} axes");
                return;
            }

            var position = Array.FindIndex(axes, a => (a < 0 ? a : a - rank) == at.Axis);
            if (position >= 0 && (pads[position] != 0 || pads[position + axes.Length] != 0))
            {
                Fail($"{described} pads the channel axis");
                return;
            }

            Join(node.Input[0], at, described);
            Join(node.Output[0], at, described);
        }

        /// <summary>A reduction that keeps its dims over constant axes other than the channels: the channels pass, each pooled alone.</summary>
        private void VisitReduction(NodeProto node, string value, ChannelAxis at, string described)
        {
            if ((node.Input[0] != value && node.Output[0] != value) || at.Rank is not { } rank || at.Flattened)
            {
                Fail($"{described} reduces a value whose rank is not known");
                return;
            }

            if (IntAttribute(node, "keepdims", 1) == 0)
            {
                Fail($"{described} drops the axes it reduces (keepdims = 0)");
                return;
            }

            // The axes are an attribute until opset 18 (ReduceSum: 13); an absent or empty list reduces every axis.
            long[] axes = node.Attribute.FirstOrDefault(a => a.Name == "axes")?.Ints.ToArray() ?? [];
            if (node.Input.Count > 1 && node.Input[1].Length > 0)
            {
                if (ConstantSources.Find(graph, node.Input[1]) is not { } constant)
                {
                    Fail($"{described} reduces computed axes");
                    return;
                }

                axes = TensorCodec.ToInt64(constant);
            }

            if (axes.Length == 0 || axes.Any(a => (a < 0 ? a : a - rank) == at.Axis))
            {
                Fail($"{described} reduces the channel axis");
                return;
            }

            OnlyFirstOutput(node, described);
            Join(node.Input[0], at, described);
            Join(node.Output[0], at, described);
        }

        /// <summary>
        /// Squeeze and Unsqueeze of axes other than the channels move the channel axis and change the rank (a Conv2d's
        /// [N, C, 1, W] squeezed into a Conv1d's [N, C, W]); the channels pass, met from either side.
        /// </summary>
        private void VisitSqueeze(NodeProto node, string value, ChannelAxis at, string described)
        {
            if ((node.Input[0] != value && node.Output[0] != value) || at.Rank is not { } rank || at.Flattened)
            {
                Fail($"{described} reshapes a value whose rank is not known");
                return;
            }

            long[] axes;
            if ((graph.OpsetVersion("") ?? 13) < 13)
            {
                axes = node.Attribute.FirstOrDefault(a => a.Name == "axes")?.Ints.ToArray() ?? [];
            }
            else if (node.Input.Count > 1 && node.Input[1].Length > 0 && ConstantSources.Find(graph, node.Input[1]) is { } constant)
            {
                axes = TensorCodec.ToInt64(constant);
            }
            else
            {
                axes = [];
            }

            if (axes.Length == 0)
            {
                Fail($"{described} has computed axes or squeezes every axis of size 1");
                return;
            }

            // The axes count in the larger value: the Squeeze's input, the Unsqueeze's output.
            var squeeze = node.OpType == "Squeeze";
            var fromLarger = squeeze == (node.Input[0] == value);
            var largeRank = fromLarger ? rank : rank + axes.Length;
            var removed = axes.Select(a => a < 0 ? a + largeRank : a).ToHashSet();
            if (removed.Count != axes.Length || removed.Any(a => a < 0 || a >= largeRank))
            {
                Fail($"{described} has axes [{string.Join(", ", axes)}] that do not fit a value of rank {largeRank}");
                return;
            }

            var kept = Enumerable.Range(0, largeRank).Where(a => !removed.Contains(a)).ToList();
            var channel = rank + at.Axis;
            if (fromLarger && removed.Contains(channel))
            {
                Fail($"{described} removes the channel axis");
                return;
            }

            // Positions of the channel axis in the larger and the smaller value, and each side's axis from the end.
            var (large, small) = fromLarger ? (channel, kept.IndexOf(channel)) : (kept[channel], channel);
            var larger = at with { Axis = large - largeRank, Rank = largeRank };
            var smaller = at with { Axis = small - kept.Count, Rank = kept.Count };
            Join(node.Input[0], squeeze ? larger : smaller, described);
            Join(node.Output[0], squeeze ? smaller : larger, described);
        }

        /// <summary>Channels of the value the group is on: its window's total, or the group's units.</summary>
        private long Size(ChannelAxis at) => at.Window is null ? units : at.Total;

        /// <summary>
        /// Channels of a value along a (negative) axis, from its shape annotation, a constant's dims, or traced back to
        /// the layer that makes them through ops that keep them; null when none tells.
        /// </summary>
        private long? ChannelCount(string value, ChannelAxis at, int depth)
        {
            var axis = at.Axis;
            if (Annotated(value) is { } shape && shape.Dim.Count + axis >= 0 && shape.Dim[shape.Dim.Count + axis].DimValue > 0)
            {
                return shape.Dim[shape.Dim.Count + axis].DimValue;
            }

            if (ConstantSources.Find(graph, value) is { } constant)
            {
                return constant.Dims.Count + axis >= 0 ? constant.Dims[constant.Dims.Count + axis] : null;
            }

            if (depth > 64 || graph.Producer(value) is not { } node || !GraphScopes.IsStandard(node))
            {
                return null;
            }

            TensorProto? weight = node.Input.Count > 1 ? ConstantSources.Find(graph, node.Input[1]) : null;
            switch (node.OpType)
            {
                case "Conv" when weight is not null && axis == 1 - weight.Dims.Count:
                    return weight.Dims[0];
                case "ConvTranspose" when weight is not null && axis == 1 - weight.Dims.Count:
                    return weight.Dims[1] * IntAttribute(node, "group", 1);
                case "MatMul" when weight is { Dims.Count: 2 } && axis == -1:
                    return weight.Dims[1];
                case "Gemm" when weight is { Dims.Count: 2 } && axis == -1:
                    return IntAttribute(node, "transB", 0) != 0 ? weight.Dims[0] : weight.Dims[1];
                case "Concat":
                    if (IsChannelAxis(node, at) is not { } along)
                    {
                        return null;
                    }

                    long sum = 0;
                    foreach (var input in node.Input)
                    {
                        if (ChannelCount(input, at, depth + 1) is not { } count)
                        {
                            return null;
                        }

                        sum = along ? sum + count : count;
                    }

                    return sum;
                case "BatchNormalization" or "Resize":
                    return ChannelCount(node.Input[0], at, depth + 1);
                default:
                    // Element-wise operands may broadcast a single channel: the widest traced one is the value's.
                    return Unary.Contains(node.OpType) || Pools.Contains(node.OpType) || Elementwise.Contains(node.OpType)
                        ? node.Input.Where(i => i.Length > 0 && ConstantSources.Find(graph, i) is null).Select(i => ChannelCount(i, at, depth + 1)).Max()
                        : null;
            }
        }

        private TensorShapeProto? Annotated(string value)
        {
            var info = graph.Proto.ValueInfo.FirstOrDefault(v => v.Name == value) ?? graph.Proto.Input.FirstOrDefault(v => v.Name == value)
                ?? graph.Proto.Output.FirstOrDefault(v => v.Name == value);
            return info?.Type?.TensorType?.Shape;
        }

        /// <summary>Conv, MatMul and Gemm: a producer when the value is their output, a consumer when it is their data input.</summary>
        private void VisitLayer(NodeProto node, string value, ChannelAxis at, string described)
        {
            if (!IsLayer(graph, node))
            {
                Fail($"{described} has no constant weight");
                return;
            }

            var weight = ConstantSources.Find(graph, node.Input[1])!;
            if (node.OpType == "Conv" && IntAttribute(node, "group", 1) is var groups && groups != 1 && IsDepthwise(node, weight))
            {
                // Depthwise: one filter per channel, so the channels pass through and the filters go with them.
                if (groups == Size(at) && !at.Flattened)
                {
                    AddTensor(node, 1, 0, at, CoupledRole.Parameter, described);
                    if (node.Input.Count > 2 && node.Input[2].Length > 0)
                    {
                        AddTensor(node, 2, 0, at, CoupledRole.Parameter, described);
                    }

                    depthwise.Add(node);
                    Join(node.Input[0], at, described);
                    Join(node.Output[0], at, described);
                }
                else
                {
                    Fail($"{described} is a depthwise convolution over {groups} channels where the group has {Size(at)}");
                }

                return;
            }

            if (node.Output[0] == value)
            {
                // Met backwards: another layer whose output is tied to these channels (a residual branch).
                if (at.Window is not null || at.Flattened)
                {
                    Fail($"{described} makes more channels than the group's (beside a Concat) or flattened ones");
                    return;
                }

                AddProducer(node);
                return;
            }

            if (node.OpType == "Conv" && IntAttribute(node, "group", 1) is var convGroups && convGroups != 1)
            {
                Fail($"{described} is a grouped convolution ({convGroups} groups): its input channels are tied to its conv groups and are not followed");
                return;
            }

            if (node.Input[0] != value)
            {
                Fail($"{described} reads the channels as its weight");
                return;
            }

            if (node.OpType == "Conv")
            {
                if (at.Flattened || at.Rank is not { } rank || at.Axis != 1 - rank)
                {
                    Fail($"{described} reads the channels on an axis that is not its input channels");
                    return;
                }

                consumers.Add((node, value, node.Input[1]));
                AddTensor(node, 1, 1, at, CoupledRole.Consumer, described);
                return;
            }

            if (at.Axis != -1 || (node.OpType == "Gemm" && IntAttribute(node, "transA", 0) != 0))
            {
                Fail($"{described} does not reduce over the channels");
                return;
            }

            consumers.Add((node, value, node.Input[1]));
            AddTensor(node, 1, node.OpType == "Gemm" && IntAttribute(node, "transB", 0) != 0 ? 1 : 0, at, CoupledRole.Consumer, described);
        }

        /// <summary>The seed and every layer met backwards: its output channels, and its bias.</summary>
        private void AddProducer(NodeProto node)
        {
            Producers.Add(node);
            var described = $"{node.OpType} '{ChannelGroup.Describe(node)}'";
            var weight = ConstantSources.Find(graph, node.Input[1])!;
            if (node.OpType == "Conv" && IntAttribute(node, "group", 1) is var groups && groups != 1)
            {
                if (IsDepthwise(node, weight))
                {
                    Fail($"{described} is a depthwise convolution: its channels are those of the layer before it, which is not followed here");
                    return;
                }

                // Output channels of a grouped convolution: as many go from each conv group, so the groups stay equal.
                var perGroup = checked((int)(weight.Dims[0] / groups));
                for (var g = 0; g < groups; g++)
                {
                    partitions.Add((g * perGroup, perGroup));
                }
            }

            var transB = IntAttribute(node, "transB", 0) != 0;
            var axis = node.OpType switch { "Conv" => 0, "Gemm" when transB => 0, _ => 1 };
            AddTensor(node, 1, axis, null, CoupledRole.Producer, described);
            if (node.OpType is "Conv" && node.Input.Count > 2 && node.Input[2].Length > 0)
            {
                AddTensor(node, 2, 0, null, CoupledRole.Parameter, described);
            }

            if (node.OpType == "Gemm" && node.Input.Count > 2 && node.Input[2].Length > 0)
            {
                if (ConstantSources.Find(graph, node.Input[2]) is not { } bias)
                {
                    Fail($"{described} has a computed bias");
                    return;
                }

                if (TensorCodec.ElementCount(bias) != 1)
                {
                    if (bias.Dims.Count == 2 && bias.Dims[0] != 1)
                    {
                        Fail($"{described} has a bias per row");
                        return;
                    }

                    AddTensor(node, 2, bias.Dims.Count - 1, null, CoupledRole.Parameter, described);
                }
            }

            if (node.OpType == "MatMul" && ConstantSources.Find(graph, node.Input[0]) is not null)
            {
                Fail($"{described} multiplies two constants");
                return;
            }

            var at = node.OpType == "Conv" ? new ChannelAxis(1 - weight.Dims.Count, weight.Dims.Count, false) : new ChannelAxis(-1, node.OpType == "Gemm" ? 2 : null, false);
            Join(node.Output[0], at, described);
        }

        /// <summary>Add, Mul and the like: constants are sliced where they hold a value per channel; computed inputs join the group.</summary>
        private void VisitElementwise(NodeProto node, ChannelAxis at, string described)
        {
            for (var i = 0; i < node.Input.Count; i++)
            {
                var input = node.Input[i];
                if (values.ContainsKey(input))
                {
                    continue;
                }

                if (ConstantSources.Find(graph, input) is { } constant)
                {
                    var position = constant.Dims.Count + at.Axis;
                    if (position >= 0 && constant.Dims[position] != 1)
                    {
                        if (at.Flattened || (node.OpType == "Pow" && i == 1))
                        {
                            Fail($"{described} has a constant that varies along flattened or exponent channels");
                            return;
                        }

                        AddTensor(node, i, position, at, CoupledRole.Parameter, described);
                    }
                }
                else if (node.OpType == "Pow" && i == 1)
                {
                    Fail($"{described} raises to a computed exponent");
                    return;
                }
                else
                {
                    // A computed operand must carry the same channels (a residual branch); if it broadcasts
                    // instead, following it fails on a size mismatch or an op without a rule, which is safe.
                    Join(input, at, described);
                }
            }

            Join(node.Output[0], at, described);
        }

        /// <summary>
        /// Flatten or Reshape of [N, C, ...] to [N, C*...]: channel c becomes the block [c*S, (c+1)*S) of the S spatial
        /// positions. Beside a Concat's other channels (pooled features concatenated before a classifier) the window
        /// of the group's channels becomes a window of blocks; a Reshape's constant size would then count channels that
        /// are not the group's, so only Flatten takes a window.
        /// </summary>
        private void VisitFlatten(NodeProto node, string value, ChannelAxis at, string described)
        {
            if (node.Input[0] != value || at.Flattened || at.Rank is not { } rank || at.Axis != 1 - rank || (at.Window is not null && node.OpType == "Reshape"))
            {
                Fail($"{described} reshapes the channels in a way that is not followed (or channels beside a Concat's)");
                return;
            }

            if (node.OpType == "Flatten" && IntAttribute(node, "axis", 1) != 1)
            {
                Fail($"{described} flattens from an axis other than 1");
                return;
            }

            if (node.OpType == "Reshape")
            {
                if (ConstantSources.Find(graph, node.Input[1]) is not { } shape || shape.Dims.Count != 1 || shape.Dims[0] != 2)
                {
                    Fail($"{described} has a shape that is not a constant [batch, features]");
                    return;
                }

                var target = TensorCodec.ToInt64(shape);
                if (target[1] == 0)
                {
                    Fail($"{described} copies a dimension of its input");
                    return;
                }

                if (target[1] > 0)
                {
                    shapes.Add((node.Input[1], 1, node, 1));
                }
            }

            Join(node.Output[0], new ChannelAxis(-1, 2, true, at.Window, at.Total), described);
        }

        /// <summary>Whether an op's axis attribute is the channel axis; null when it is positive and the value's rank is not known.</summary>
        private static bool? IsChannelAxis(NodeProto node, ChannelAxis at)
        {
            var axis = IntAttribute(node, "axis", 0);
            return axis < 0 ? axis == at.Axis : at.Rank is { } rank ? axis - rank == at.Axis : null;
        }

        private void OnlyFirstOutput(NodeProto node, string described)
        {
            for (var i = 1; i < node.Output.Count; i++)
            {
                if (node.Output[i].Length > 0 && (graph.Consumers(node.Output[i]).Count > 0 || graph.IsGraphOutput(node.Output[i])))
                {
                    Fail($"{described} has a second output that is read");
                }
            }
        }

        private void Join(string value, ChannelAxis at, string described)
        {
            if (value.Length == 0)
            {
                return;
            }

            if (at.Window is { } window && window.Offset == 0 && window.First == 0 && window.Count == units && at.Total == units)
            {
                at = at with { Window = null, Total = 0 }; // the value holds exactly the group's units again
            }

            if (values.TryGetValue(value, out var known))
            {
                if (!known.SameAs(at))
                {
                    Fail($"{described} ties the channels to another axis of '{value}'");
                }

                return;
            }

            values[value] = at;
            queue.Enqueue(value);
        }

        /// <summary>
        /// Couples input <paramref name="input"/> of the node, a constant whose axis holds one entry per channel (or
        /// block) of the value at <paramref name="at"/> (null for a producer: one entry per unit).
        /// </summary>
        private void AddTensor(NodeProto node, int input, int axis, ChannelAxis? at, CoupledRole role, string described)
        {
            var name = node.Input[input];
            var flattened = at?.Flattened ?? false;
            var window = at?.Window;
            if (ConstantSources.Find(graph, name) is not { } tensor || !IsFloat(tensor))
            {
                Fail($"{described} has a computed or non-float parameter '{name}'");
                return;
            }

            if (axis >= tensor.Dims.Count)
            {
                Fail($"{described}: '{name}' has no axis {axis}");
                return;
            }

            var size = tensor.Dims[axis];
            if (units < 0 && !flattened)
            {
                units = checked((int)size);
            }
            else if (!flattened && size != (window is null ? units : at!.Value.Total))
            {
                Fail($"{described}: '{name}' has {size} entries where the group's value has {(window is null ? units : at!.Value.Total)} channels");
                return;
            }

            if (tensors.TryGetValue(name, out var entry))
            {
                if (entry.Axis != axis || entry.Flattened != flattened || entry.Window != window)
                {
                    Fail($"{described}: '{name}' is tied to the group on two axes or windows");
                    return;
                }
            }
            else
            {
                tensors[name] = entry = new TensorEntry(name, axis, flattened, role, window, at?.Total ?? 0);
            }

            entry.Readers.Add((node, input));
        }

        /// <summary>Resolves the block of flattened channels (features of the consumer / channels) and builds the group.</summary>
        private ChannelGroup? Build()
        {
            if (units <= 1)
            {
                return Fail("the layer has a single output channel");
            }

            long spatial = 0;
            foreach (var entry in tensors.Values.Where(t => t.Flattened))
            {
                var features = ConstantSources.Find(graph, entry.Name)!.Dims[entry.Axis];
                var channels = entry.Window is null ? units : entry.Total;
                if (features % channels != 0 || (spatial != 0 && features / channels != spatial))
                {
                    return Fail($"'{entry.Name}' has {features} input features, not a whole block per channel of {channels}");
                }

                spatial = features / channels;
            }

            var edits = new List<ShapeEdit>();
            foreach (var (tensor, index, reader, input) in shapes)
            {
                var target = TensorCodec.ToInt64(ConstantSources.Find(graph, tensor)!);
                if (spatial == 0 || target[index] != units * spatial)
                {
                    return Fail($"the Reshape shape '{tensor}' does not match {units} channels of the layer after it");
                }

                edits.Add(new ShapeEdit(tensor, index, spatial, reader, input));
            }

            var ranges = partitions.Distinct().OrderBy(p => p.First).ToList();
            for (var i = 1; i < ranges.Count; i++)
            {
                if (ranges[i].First < ranges[i - 1].First + ranges[i - 1].Count)
                {
                    return Fail("the conv groups of a grouped convolution and the pieces of a Split cut the channels differently");
                }
            }

            var kind = Producers.Any(p => p.OpType == "Conv") ? ChannelGroupKind.ConvChannels : ChannelGroupKind.Neurons;
            // A flattened window starts at its first channel's block.
            var coupled = tensors.Values.Select(t => new CoupledTensor(t.Name, t.Axis, t.Flattened ? checked((int)spatial) : 1, t.Role, t.Readers)
            {
                Window = t.Flattened && t.Window is { } w ? w with { Offset = w.Offset * spatial } : t.Window,
            }).ToList();
            return new ChannelGroup
            {
                Kind = kind,
                Units = units,
                Producers = Producers,
                Tensors = coupled,
                Shapes = edits,
                Depthwise = depthwise,
                Splits = splits,
                Partitions = ranges,
                Consumers = consumers.Select(c => new GroupConsumer(c.Node, c.Input, coupled.First(t => t.Name == c.Weight))).ToList(),
                Values = values.Keys.ToList(),
            };
        }
    }
}
