using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Passes.Graph;

namespace Compression.Core.Pruning.Structured;

/// <summary>
/// Finds channel groups on the graph, Torch-Pruning style: from each layer with a constant weight (Conv, MatMul,
/// Gemm) the output channels are followed forward and backward through the ops that keep them (one rule per op
/// type, in the Rules table), collecting every tensor tied to them, until every path ends in a layer that reads them as its
/// reduction dimension. A path that reaches an op without a rule, a graph output or a mismatching size ends the
/// search and the whole group is left alone, so a pruned model is never invalid. Past a Concat along the channels
/// the group's channels are a window of the concatenated ones (an offset); past a Split along them, each piece holds
/// a window of the group's units. A grouped convolution's output channels are pruned alike in each of its conv groups.
/// Nothing here depends on the spatial rank: the channel axis is counted from the end of a value whose rank is
/// known (a Conv's weight gives it), so Conv1d and Conv3d chains are followed like 2-D ones.
/// </summary>
internal static partial class GroupFinder
{
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
    private sealed partial class Search(OnnxGraph graph, ISet<NodeProto> claimed)
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
            else
            {
                RuleFor(node.OpType).Visit(this, node, value, at, described);
            }
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

            return RuleFor(node.OpType).Count?.Invoke(this, node, at, depth);
        }

        private TensorShapeProto? Annotated(string value)
        {
            var info = graph.Proto.ValueInfo.FirstOrDefault(v => v.Name == value) ?? graph.Proto.Input.FirstOrDefault(v => v.Name == value)
                ?? graph.Proto.Output.FirstOrDefault(v => v.Name == value);
            return info?.Type?.TensorType?.Shape;
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
