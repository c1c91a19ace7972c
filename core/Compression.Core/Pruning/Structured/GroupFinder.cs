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
/// search and the whole group is left alone, so a pruned model is never invalid.
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
            foreach (var producer in search.Producers)
            {
                seen.Add(producer);
            }

            if (group is not null)
            {
                groups.Add(group);
            }
            else
            {
                skipped.Add(new SkippedGroup(search.Producers.Select(ChannelGroup.Describe).ToList(), search.Failure!));
            }
        }

        return (groups, skipped);
    }

    /// <summary>A Conv, MatMul or Gemm whose weight is a constant: a layer whose output channels can be removed.</summary>
    private static bool IsLayer(OnnxGraph graph, NodeProto node) =>
        GraphScopes.IsStandard(node) && node.OpType is "Conv" or "MatMul" or "Gemm" && node.Input.Count > 1
        && ConstantSources.Find(graph, node.Input[1]) is { } weight && IsFloat(weight)
        && (node.OpType == "Conv" || weight.Dims.Count == 2);

    internal static bool IsFloat(TensorProto tensor) => TensorCodec.ElementTypeOf(tensor) is ElementType.Float or ElementType.Float16
        or ElementType.BFloat16 or ElementType.Double;

    internal static long IntAttribute(NodeProto node, string name, long fallback) =>
        node.Attribute.FirstOrDefault(a => a.Name == name) is { } attribute ? attribute.I : fallback;

    /// <summary>Where a value holds the group's channels: a negative axis, the value's rank when known, and whether it was flattened (channel x spatial blocks).</summary>
    private readonly record struct ChannelAxis(int Axis, int? Rank, bool Flattened);

    private sealed class TensorEntry(string name, int axis, bool flattened, CoupledRole role)
    {
        public string Name { get; } = name;

        public int Axis { get; } = axis;

        public bool Flattened { get; } = flattened;

        public CoupledRole Role { get; } = role;

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
        private readonly List<(NodeProto Node, string Input, string Weight)> consumers = [];
        private int units = -1;

        public List<NodeProto> Producers { get; } = [];

        public string? Failure { get; private set; }

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
                    AddTensor(node, i, 0, flattened: false, CoupledRole.Parameter, described);
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
            else if (node.OpType == "Concat" && IsOtherAxis(node, at))
            {
                foreach (var input in node.Input)
                {
                    Join(input, at, described);
                }

                Join(node.Output[0], at, described);
            }
            else if (node.OpType == "Concat")
            {
                Fail($"{described} concatenates along the channels (index offsets are not followed yet)");
            }
            else
            {
                Fail($"{described} has no channel rule");
            }
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
            if (node.OpType == "Conv" && IntAttribute(node, "group", 1) is var groups && groups != 1)
            {
                // Depthwise: one filter per channel, so the channels pass through and the filters go with them.
                if (groups == weight.Dims[0] && weight.Dims[1] == 1 && IntAttribute(node, "group", 1) == units)
                {
                    AddTensor(node, 1, 0, flattened: false, CoupledRole.Parameter, described);
                    if (node.Input.Count > 2 && node.Input[2].Length > 0)
                    {
                        AddTensor(node, 2, 0, flattened: false, CoupledRole.Parameter, described);
                    }

                    depthwise.Add(node);
                    Join(node.Input[0], at, described);
                    Join(node.Output[0], at, described);
                }
                else
                {
                    Fail($"{described} is a grouped convolution ({groups} groups) that is not depthwise");
                }

                return;
            }

            if (node.Output[0] == value)
            {
                // Met backwards: another layer whose output is tied to these channels (a residual branch).
                AddProducer(node);
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
                AddTensor(node, 1, 1, flattened: false, CoupledRole.Consumer, described);
                return;
            }

            if (at.Axis != -1 || (node.OpType == "Gemm" && IntAttribute(node, "transA", 0) != 0))
            {
                Fail($"{described} does not reduce over the channels");
                return;
            }

            consumers.Add((node, value, node.Input[1]));
            AddTensor(node, 1, node.OpType == "Gemm" && IntAttribute(node, "transB", 0) != 0 ? 1 : 0, at.Flattened, CoupledRole.Consumer, described);
        }

        /// <summary>The seed and every layer met backwards: its output channels, and its bias.</summary>
        private void AddProducer(NodeProto node)
        {
            Producers.Add(node);
            var described = $"{node.OpType} '{ChannelGroup.Describe(node)}'";
            var weight = ConstantSources.Find(graph, node.Input[1])!;
            if (node.OpType == "Conv" && IntAttribute(node, "group", 1) != 1)
            {
                Fail($"{described} is a grouped convolution");
                return;
            }

            var transB = IntAttribute(node, "transB", 0) != 0;
            var axis = node.OpType switch { "Conv" => 0, "Gemm" when transB => 0, _ => 1 };
            AddTensor(node, 1, axis, flattened: false, CoupledRole.Producer, described);
            if (node.OpType is "Conv" && node.Input.Count > 2 && node.Input[2].Length > 0)
            {
                AddTensor(node, 2, 0, flattened: false, CoupledRole.Parameter, described);
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

                    AddTensor(node, 2, bias.Dims.Count - 1, flattened: false, CoupledRole.Parameter, described);
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

                        AddTensor(node, i, position, flattened: false, CoupledRole.Parameter, described);
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

        /// <summary>Flatten or Reshape of [N, C, H, W] to [N, C*H*W]: channel c becomes the block [c*H*W, (c+1)*H*W).</summary>
        private void VisitFlatten(NodeProto node, string value, ChannelAxis at, string described)
        {
            if (node.Input[0] != value || at.Flattened || at.Rank is not { } rank || at.Axis != 1 - rank)
            {
                Fail($"{described} reshapes the channels in a way that is not followed");
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

            Join(node.Output[0], new ChannelAxis(-1, 2, true), described);
        }

        private bool IsOtherAxis(NodeProto node, ChannelAxis at)
        {
            var axis = IntAttribute(node, "axis", 0);
            if (axis < 0)
            {
                return axis != at.Axis;
            }

            return at.Rank is { } rank && axis != rank + at.Axis;
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

            if (values.TryGetValue(value, out var known))
            {
                if (known.Axis != at.Axis || known.Flattened != at.Flattened)
                {
                    Fail($"{described} ties the channels to another axis of '{value}'");
                }

                return;
            }

            values[value] = at;
            queue.Enqueue(value);
        }

        /// <summary>Couples input <paramref name="input"/> of the node, a constant whose axis holds one entry per channel (or block).</summary>
        private void AddTensor(NodeProto node, int input, int axis, bool flattened, CoupledRole role, string described)
        {
            var name = node.Input[input];
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
            else if (!flattened && size != units)
            {
                Fail($"{described}: '{name}' has {size} entries where the group has {units} channels");
                return;
            }

            if (tensors.TryGetValue(name, out var entry))
            {
                if (entry.Axis != axis || entry.Flattened != flattened)
                {
                    Fail($"{described}: '{name}' is tied to the group on two axes");
                    return;
                }
            }
            else
            {
                tensors[name] = entry = new TensorEntry(name, axis, flattened, role);
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
                if (features % units != 0 || (spatial != 0 && features / units != spatial))
                {
                    return Fail($"'{entry.Name}' has {features} input features, not a whole block per channel of {units}");
                }

                spatial = features / units;
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

            var kind = Producers.Any(p => p.OpType == "Conv") ? ChannelGroupKind.ConvChannels : ChannelGroupKind.Neurons;
            var coupled = tensors.Values.Select(t => new CoupledTensor(t.Name, t.Axis, t.Flattened ? checked((int)spatial) : 1, t.Role, t.Readers)).ToList();
            return new ChannelGroup
            {
                Kind = kind,
                Units = units,
                Producers = Producers,
                Tensors = coupled,
                Shapes = edits,
                Depthwise = depthwise,
                Consumers = consumers.Select(c => new GroupConsumer(c.Node, c.Input, coupled.First(t => t.Name == c.Weight))).ToList(),
                Values = values.Keys.ToList(),
            };
        }
    }
}
