using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Passes.Graph;

namespace Compression.Core.Pruning.Structured;

// The channel-flow rules of GroupFinder's search: one per op type, looked up in a table with a default for every other op
// (Torch-Pruning's function table, ONNX Runtime's quantizer registry). Following one more op is one more entry in the table.
internal static partial class GroupFinder
{
    private sealed partial class Search
    {
        /// <summary>Follows the channels across <paramref name="node"/>, met through <paramref name="value"/> where they lie at <paramref name="at"/>, or fails.</summary>
        private delegate void VisitRule(Search search, NodeProto node, string value, ChannelAxis at, string described);

        /// <summary>
        /// Channels of <paramref name="node"/>'s output along the axis of <paramref name="at"/>, traced back through its inputs
        /// (<paramref name="depth"/> ops so far); null when the op does not tell.
        /// </summary>
        private delegate long? CountRule(Search search, NodeProto node, ChannelAxis at, int depth);

        /// <summary>
        /// How a group's channels flow through one op type: how the search crosses a node of it, and how the channel count of
        /// its output is traced back to place a Concat's inputs (null: no count is traced through it).
        /// </summary>
        private sealed record ChannelFlowRule(VisitRule Visit, CountRule? Count = null);

        /// <summary>The default: the search stops and the group is left alone.</summary>
        private static readonly ChannelFlowRule NoRule = new(static (search, _, _, _, described) => search.Fail($"{described} has no channel rule"));

        /// <summary>The rule of each op type the search follows, by family; any other op gets <see cref="NoRule"/>.</summary>
        private static readonly IReadOnlyDictionary<string, ChannelFlowRule> Rules = ByOpType(
            // Layers with a constant weight: met from their output they make the channels, from their data input they read
            // them as their reduction dimension; a depthwise Conv passes them.
            (["Conv"], new(
                static (search, node, value, at, described) => search.VisitLayer(node, value, at, described),
                static (search, node, at, _) => search.ConstantWeight(node) is { } weight && at.Axis == 1 - weight.Dims.Count ? weight.Dims[0] : null)),
            (["MatMul"], new(
                static (search, node, value, at, described) => search.VisitLayer(node, value, at, described),
                static (search, node, at, _) => search.ConstantWeight(node) is { Dims.Count: 2 } weight && at.Axis == -1 ? weight.Dims[1] : null)),
            (["Gemm"], new(
                static (search, node, value, at, described) => search.VisitLayer(node, value, at, described),
                static (search, node, at, _) => search.ConstantWeight(node) is { Dims.Count: 2 } weight && at.Axis == -1
                    ? IntAttribute(node, "transB", 0) != 0 ? weight.Dims[0] : weight.Dims[1]
                    : null)),

            // Its weight is [C_in, C_out / group, k...]: it could consume and produce channels, but the refit of a transposed
            // convolution (its patches scatter, not gather) is not written yet. Its output's channels are counted all the same.
            (["ConvTranspose"], new(
                static (search, node, _, _, described) =>
                {
                    search.NotSupported = node.OpType;
                    search.Fail($"{described} is a transposed convolution, which structured pruning does not prune through yet");
                },
                static (search, node, at, _) => search.ConstantWeight(node) is { } weight && at.Axis == 1 - weight.Dims.Count
                    ? weight.Dims[1] * IntAttribute(node, "group", 1)
                    : null)),

            // Element-wise on one tensor: any other input (Clip's bounds, Dropout's ratio) must be a scalar constant.
            ([
                "Relu", "LeakyRelu", "PRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Erf", "Elu", "Selu", "Celu", "Gelu",
                "Softplus", "Softsign", "Mish", "ThresholdedRelu", "Identity", "Abs", "Neg", "Exp", "Log", "Sqrt", "Reciprocal",
                "Floor", "Ceil", "Round", "Sin", "Cos", "Cast", "Clip", "Dropout",
            ], new(
                static (search, node, _, at, described) => search.VisitUnary(node, at, described),
                static (search, node, at, depth) => search.WidestInputChannels(node, at, depth))),

            // Element-wise on several tensors: constants are sliced per channel, computed operands join the group.
            (["Add", "Sub", "Mul", "Div", "Max", "Min", "Sum", "Pow"], new(
                static (search, node, _, at, described) => search.VisitElementwise(node, at, described),
                static (search, node, at, depth) => search.WidestInputChannels(node, at, depth))),

            // Pools over the spatial axes: each channel is pooled alone.
            (["MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "LpPool", "GlobalLpPool"], new(
                static (search, node, _, at, described) => search.VisitPool(node, at, described),
                static (search, node, at, depth) => search.WidestInputChannels(node, at, depth))),

            // Reductions over other axes than the channels, keeping the dims, pool each channel alone (a squeeze-excite's ReduceMean).
            (["ReduceMean", "ReduceMax", "ReduceMin", "ReduceSum", "ReduceL1", "ReduceL2", "ReduceLogSumExp", "ReduceSumSquare"], new(
                static (search, node, value, at, described) => search.VisitReduction(node, value, at, described))),

            // Normalization per channel: its scale, bias, mean and variance go with the channels.
            (["BatchNormalization"], new(
                static (search, node, value, at, described) => search.VisitBatchNormalization(node, value, at, described),
                static (search, node, at, depth) => search.ChannelCount(node.Input[0], at, depth + 1))),

            // Ops that move the channel axis or each channel's positions without mixing channels.
            (["Flatten", "Reshape"], new(static (search, node, value, at, described) => search.VisitFlatten(node, value, at, described))),
            (["Squeeze", "Unsqueeze"], new(static (search, node, value, at, described) => search.VisitSqueeze(node, value, at, described))),
            (["Resize"], new(
                static (search, node, value, at, described) => search.VisitResize(node, value, at, described),
                static (search, node, at, depth) => search.ChannelCount(node.Input[0], at, depth + 1))),
            (["Slice"], new(static (search, node, value, at, described) => search.VisitSlice(node, value, at, described))),
            (["Pad"], new(static (search, node, value, at, described) => search.VisitPad(node, value, at, described))),

            // Ops that join or cut the channels: along another axis they pass; along the channels they place the group's
            // units in a window of a larger value, or cut that window into pieces.
            (["Concat"], new(
                static (search, node, value, at, described) => search.VisitConcat(node, value, at, described),
                static (search, node, at, depth) => search.ConcatChannels(node, at, depth))),
            (["Split"], new(static (search, node, value, at, described) => search.VisitSplit(node, value, at, described))));

        private static ChannelFlowRule RuleFor(string opType) => Rules.GetValueOrDefault(opType, NoRule);

        /// <summary>The table from its families; an op in two families fails at type initialization, not in a search.</summary>
        private static Dictionary<string, ChannelFlowRule> ByOpType(params (string[] OpTypes, ChannelFlowRule Rule)[] families)
        {
            var table = new Dictionary<string, ChannelFlowRule>(StringComparer.Ordinal);
            foreach (var (opTypes, rule) in families)
            {
                foreach (var opType in opTypes)
                {
                    table.Add(opType, rule);
                }
            }

            return table;
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

        /// <summary>Element-wise on one tensor: the channels pass when every other input is a scalar constant.</summary>
        private void VisitUnary(NodeProto node, ChannelAxis at, string described)
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

        /// <summary>A pool over the spatial axes of [N, C, ...]: the channels pass when they are on axis 1.</summary>
        private void VisitPool(NodeProto node, ChannelAxis at, string described)
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

        /// <summary>BatchNormalization over the channels: its scale, bias, mean and variance are sliced with them.</summary>
        private void VisitBatchNormalization(NodeProto node, string value, ChannelAxis at, string described)
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

        /// <summary>
        /// Concat along another axis than the channels: every input and the output carry them. Along the channels, entered
        /// through one input: the group's units become a window of the output's channels at the offset of that input (the
        /// channels of the inputs before it, traced back to their layers).
        /// </summary>
        private void VisitConcat(NodeProto node, string value, ChannelAxis at, string described)
        {
            if (IsChannelAxis(node, at) is not { } alongChannels)
            {
                FailOnAxisOfUnknownRank(node, described);
                return;
            }

            if (!alongChannels)
            {
                foreach (var input in node.Input)
                {
                    Join(input, at, described);
                }

                Join(node.Output[0], at, described);
                return;
            }

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
            if (IsChannelAxis(node, at) is not { } alongChannels)
            {
                FailOnAxisOfUnknownRank(node, described);
                return;
            }

            if (node.Input[0] != value)
            {
                Fail($"{described} is met from one of its pieces (the channels are split, not joined)");
                return;
            }

            if (!alongChannels)
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

        private void FailOnAxisOfUnknownRank(NodeProto node, string described) =>
            Fail($"{described} works on axis {IntAttribute(node, "axis", 0)} of a value whose rank is not known");

        /// <summary>Whether an op's axis attribute is the channel axis; null when it is positive and the value's rank is not known.</summary>
        private static bool? IsChannelAxis(NodeProto node, ChannelAxis at)
        {
            var axis = IntAttribute(node, "axis", 0);
            return axis < 0 ? axis == at.Axis : at.Rank is { } rank ? axis - rank == at.Axis : null;
        }

        /// <summary>A Concat's output channels: its inputs' summed along the channels, along another axis the last input's.</summary>
        private long? ConcatChannels(NodeProto node, ChannelAxis at, int depth)
        {
            if (IsChannelAxis(node, at) is not { } alongChannels)
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

                sum = alongChannels ? sum + count : count;
            }

            return sum;
        }

        /// <summary>Element-wise operands may broadcast a single channel: the widest traced one is the value's.</summary>
        private long? WidestInputChannels(NodeProto node, ChannelAxis at, int depth) =>
            node.Input.Where(i => i.Length > 0 && ConstantSources.Find(graph, i) is null).Select(i => ChannelCount(i, at, depth + 1)).Max();

        private TensorProto? ConstantWeight(NodeProto node) => node.Input.Count > 1 ? ConstantSources.Find(graph, node.Input[1]) : null;
    }
}
