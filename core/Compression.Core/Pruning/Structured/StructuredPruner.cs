using System.Diagnostics;
using Compression.Core.Diagnostics;
using Compression.Core.Layers;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Options;
using Compression.Core.Passes;
using Compression.Core.Passes.Graph;

namespace Compression.Core.Pruning.Structured;

/// <summary>
/// Structured pruning: finds the channel groups and attention blocks of the main graph, scores their units
/// (summed over coupled tensors), removes the lowest-scoring ones from every coupled tensor so the model really
/// shrinks, and refits each consuming layer on calibration activations (least squares and bias correction).
/// </summary>
public sealed class StructuredPruner : IPruner
{
    /// <summary>
    /// Memory the original model's layer outputs may take so they are computed once, not once per group (MiniLM's
    /// 12 groups over 256 sentences: about 30 MB).
    /// </summary>
    private const long ReferenceBudgetBytes = 1L << 30;

    /// <summary>
    /// What pruning would do, without data and without changing the model: the groups, how many units each loses
    /// and, for the weight criteria (l1, l2, fpgm), which; and every layer left alone with the reason. (With
    /// calibration data, pruning scores each group again when its turn comes, on the weights as earlier refits
    /// left them, so the units may differ from the plan's.)
    /// </summary>
    public static StructuredPlan Plan(OnnxModel model, PruneOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        var copy = new OnnxModel(model.Proto.Clone()); // tensor bytes are shared, not copied
        Prepare(copy);
        return PlanGroups(copy, options.WithConcreteDefaults());
    }

    /// <summary>
    /// Makes weights prunable: IR 3 initializer inputs stop being inputs, and weights computed from constants
    /// only (CNTK exports a MatMul weight as a Reshape of a parameter) are folded into constants.
    /// </summary>
    private static void Prepare(OnnxModel model)
    {
        var graph = model.MainGraph;
        graph.DropInitializerInputs();
        var computedWeight = graph.Nodes.Any(node => node.OpType is "Conv" or "MatMul" or "Gemm" && node.Input.Count > 1
            && graph.Producer(node.Input[1]) is { } producer && !ConstantSources.IsConstantNode(producer)
            && producer.Input.All(input => input.Length == 0 || ConstantSources.Find(graph, input) is not null));
        if (computedWeight)
        {
            new FoldConstantsPass().Run(model, new FoldConstantsOptions { MaxElements = long.MaxValue }, new PassContext(new CollectingLog()));
        }
    }

    private static StructuredPlan PlanGroups(OnnxModel model, PruneOptions options)
    {
        var graph = model.MainGraph;
        var structured = options.Structured;
        var exclusions = new NodeExclusions(options.Exclude);
        var rules = new NodeRules<LayerPruneSpec>(options.Layers);
        var (attention, skipped) = AttentionFinder.Find(graph);
        var claimed = new HashSet<NodeProto>(ReferenceEqualityComparer.Instance);
        foreach (var group in attention)
        {
            claimed.UnionWith(group.Producers);
            claimed.UnionWith(group.Consumers.Select(c => c.Node));
        }

        var (generic, genericSkipped) = GroupFinder.Find(graph, claimed);
        skipped.AddRange(genericSkipped);
        var planned = new List<PlannedGroup>();
        foreach (var group in attention.Concat(generic))
        {
            var layers = group.Producers.Select(ChannelGroup.Describe).ToList();
            var rule = rules.ForAny(group.Producers);
            var requested = Removed(group, structured, options.Sparsity, rule);
            var remove = group.Removals(requested).Sum(r => r.Remove);
            if (remove == 0)
            {
                if (requested == 0 && rule is { } zero)
                {
                    skipped.Add(new SkippedGroup(layers, $"the layers entry '{zero.Pattern}' removes none of its units"));
                }
                else if (requested > 0)
                {
                    skipped.Add(new SkippedGroup(layers, $"its {group.Units} channels are cut into {group.Partitions.Count} conv groups or Split pieces that each keep at least one, so none goes at this fraction"));
                }

                continue;
            }

            if (group.Producers.Concat(group.Consumers.Select(c => c.Node)).FirstOrDefault(exclusions.Excludes) is { } excluded)
            {
                skipped.Add(new SkippedGroup(layers, $"'{ChannelGroup.Describe(excluded)}' is excluded"));
                continue;
            }

            if (group.IsCoupled && !structured.Coupled)
            {
                skipped.Add(new SkippedGroup(layers, $"element-wise ops tie {group.Producers.Count} layers together; set structured.coupled: true to prune them as one group"));
                continue;
            }

            var removedUnits = options.Criterion is ImportanceCriterion.L1 or ImportanceCriterion.L2 or ImportanceCriterion.Fpgm
                ? UnitImportance.Lowest(UnitImportance.Score(graph, group, options.Criterion, []), group, requested)
                : null;
            planned.Add(new PlannedGroup(group.Name, group.Kind, group.Units, remove, layers, group.Consumers.Select(c => ChannelGroup.Describe(c.Node)).ToList(),
                group.Tensors.Select(t => t.Name).ToList(), removedUnits) { Group = group, Requested = requested });
        }

        return new StructuredPlan(planned, skipped) { UnmatchedLayers = rules.Unmatched };
    }

    public PassResult Prune(OnnxModel model, PruneOptions options, PassContext context)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(context);
        var stopwatch = Stopwatch.StartNew();
        var calibration = CheckCalibration(options, context);
        if (options.Scope == PruningScope.Global)
        {
            context.Log.Report(Diagnostic.Warning(ErrorCodes.PruneGlobalScopeIgnored,
                "Structured pruning removes the same fraction from every group; scope: global is not used."));
        }

        var plan = Plan(model, options);
        if (plan.Groups.Count > 0)
        {
            Prepare(model);
            plan = PlanGroups(model, options);
        }

        foreach (var pattern in plan.UnmatchedLayers)
        {
            context.Log.Report(Diagnostic.Warning(ErrorCodes.PruneLayersUnmatched,
                $"The layers entry '{pattern}' matches no producing layer of a group structured pruning found (by node name with * and ? or by op type), so it has no effect."));
        }

        foreach (var skip in plan.Skipped)
        {
            context.Log.Verbose($"prune: left alone {string.Join(", ", skip.Layers)}: {skip.Reason}.");
        }

        foreach (var gap in plan.Skipped.Where(s => s.NotSupported is not null).GroupBy(s => s.NotSupported))
        {
            context.Log.Report(Diagnostic.Warning(ErrorCodes.PruneOpNotSupported,
                $"Structured pruning does not prune through {gap.Key} yet, so it left alone {string.Join("; ", gap.Select(s => $"{string.Join(", ", s.Layers)} ({s.Reason})"))}."));
        }

        var result = new StructuredPruneResult(CriterionName(options.Criterion), plan.Groups.Count,
            plan.Skipped.GroupBy(s => string.Join(", ", s.Layers)).ToDictionary(g => g.Key, g => g.First().Reason));
        if (plan.Groups.Count == 0)
        {
            context.Log.Report(Diagnostic.Warning(ErrorCodes.PruneNoSafeGroup,
                $"Structured pruning found no group it can prune safely; the model is unchanged. {Reasons(plan)}"));
            return new PassResult(model, result);
        }

        if (options.Reconstruct && calibration is null)
        {
            context.Log.Report(Diagnostic.Warning(ErrorCodes.PruneReconstructionSkipped,
                "Reconstruction needs calibration data; without it the kept weights stay as they are (set calibration, or reconstruct: false)."));
        }

        // Groups in the order data flows through their consumers: each is scored and refit on the model with the
        // groups before it already pruned, against the original model's outputs, so errors do not pile up.
        var graph = model.MainGraph;
        var order = new Dictionary<NodeProto, int>(ReferenceEqualityComparer.Instance);
        foreach (var node in graph.TopologicalOrder())
        {
            order[node] = order.Count;
        }

        var planned = plan.Groups.OrderBy(p => p.Group.Consumers.Min(c => order[c.Node])).ToList();
        var reference = calibration is null ? null : new OnnxModel(model.Proto.Clone()); // tensor bytes are shared, not copied
        var cachedReference = calibration is null ? null : ConsumerStatisticsCollector.CaptureReference(reference!,
            planned.SelectMany(p => p.Group.Consumers.Select(c => c.Node.Output[0])).Distinct(StringComparer.Ordinal).ToList(), calibration, context, ReferenceBudgetBytes);
        var outputMaps = new Dictionary<NodeProto, int[]>(ReferenceEqualityComparer.Instance);
        var names = GraphScopes.AllValueNames(model);
        var rows = new List<LayerRow>();
        var criterion = CriterionName(options.Criterion);
        var reconstruct = options.Reconstruct && calibration is not null;
        var shifts = new WindowShifts(order);
        for (var g = 0; g < planned.Count; g++)
        {
            context.Cancellation.ThrowIfCancellationRequested();
            var found = planned[g].Group;
            var group = shifts.Current(found);
            context.Log.Progress("Structured pruning", group.Name, (double)g / planned.Count);
            var consumerStatistics = calibration is null ? [] : ConsumerStatisticsCollector.Collect(model, reference!, group, calibration, context, cachedReference);
            var removed = calibration is null && planned[g].RemovedUnits is { } fromPlan
                ? fromPlan
                : UnitImportance.Lowest(UnitImportance.Score(graph, group, options.Criterion, consumerStatistics), group, planned[g].Requested);
            var kept = Enumerable.Range(0, group.Units).Except(removed).ToArray();
            ShrinkProducers(graph, group, kept, names, rows, criterion, outputMaps);
            foreach (var consumer in group.Consumers)
            {
                rows.Add(RefitConsumer(graph, consumer, kept, consumerStatistics.FirstOrDefault(c => c.Consumer == consumer), reconstruct, names, criterion, outputMaps));
            }

            shifts.Record(found, kept);
            foreach (var value in group.Values)
            {
                GraphScopes.RemoveValueInfo(graph, value);
            }

            context.Log.Verbose($"prune: {group.Kind} group '{group.Name}' ({group.Producers.Count} layers): {group.Units} -> {kept.Length}.");
        }

        context.Log.Verbose($"prune: structured, {plan.Groups.Count} groups in {stopwatch.Elapsed.TotalSeconds:F1} s.");
        return new PassResult(model, result with
        {
            HeadsRemoved = plan.Groups.Where(p => p.Kind == ChannelGroupKind.AttentionHeads).Sum(p => p.Removed),
            NeuronsRemoved = plan.Groups.Where(p => p.Kind == ChannelGroupKind.Neurons).Sum(p => p.Removed),
            ChannelsRemoved = plan.Groups.Where(p => p.Kind == ChannelGroupKind.ConvChannels).Sum(p => p.Removed),
            Reconstructed = reconstruct,
            Layers = rows,
        });
    }

    private static string CriterionName(ImportanceCriterion criterion) => criterion switch
    {
        ImportanceCriterion.OutputError => "output_error",
        _ => criterion.ToString().ToLowerInvariant(),
    };

    private static string Reasons(StructuredPlan plan) =>
        string.Join(" ", plan.Skipped.Take(5).Select(s => $"{string.Join(", ", s.Layers)}: {s.Reason}."));

    /// <summary>
    /// Units a group loses: heads by count, neurons and channels by fraction; kept rounded up to round_to. The first
    /// <c>layers</c> entry that matches a producing layer of the group overrides the step's values for it.
    /// </summary>
    private static int Removed(ChannelGroup group, StructuredPruneOptions structured, double sparsity, (string Pattern, LayerPruneSpec Value)? rule)
    {
        var layer = rule?.Value;
        if (group.Kind == ChannelGroupKind.AttentionHeads)
        {
            var heads = layer?.Heads ?? structured.Heads;
            if (heads >= group.Units)
            {
                var key = layer?.Heads is null ? "structured.heads" : $"layers.{rule!.Value.Pattern}.heads";
                throw new CompressionException(Diagnostic.Error(ErrorCodes.PruneTooManyHeads,
                    $"{key} is {heads} but the attention block of '{group.Name}' has {group.Units} heads; at least one must stay."));
            }

            return heads;
        }

        var (ratio, name) = group.Kind == ChannelGroupKind.ConvChannels
            ? (layer?.Channels ?? layer?.Sparsity ?? structured.Channels ?? sparsity, "channels")
            : (layer?.Neurons ?? layer?.Sparsity ?? structured.Neurons ?? sparsity, "neurons");
        var kept = group.Units - (int)Math.Floor(group.Units * ratio + 1e-9);
        if (kept <= 0)
        {
            var from = rule is { } r && (group.Kind == ChannelGroupKind.ConvChannels ? layer!.Channels ?? layer.Sparsity : layer!.Neurons ?? layer.Sparsity) is not null
                ? $" (layers '{r.Pattern}')" : "";
            throw new CompressionException(Diagnostic.Error(ErrorCodes.PruneRemovesEveryUnit,
                $"Removing {ratio:P0} of the {name} of '{group.Name}'{from} leaves none of its {group.Units}; use a fraction below 1."));
        }

        kept = Math.Min(group.Units, (kept + structured.RoundTo - 1) / structured.RoundTo * structured.RoundTo);
        return group.Units - kept;
    }

    private static StepCalibrationSpec? CheckCalibration(PruneOptions options, PassContext context)
    {
        OptionChecks.ThrowIfInvalid(options); // a criterion measured on calibration data without it, among others
        if (options.Calibration is null)
        {
            return null;
        }

        if (!context.DataSets.ContainsKey(options.Calibration.Data))
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.PruneCalibrationMissing,
                $"Pruning calibrates on the data set '{options.Calibration.Data}', which the recipe does not define."));
        }

        return options.Calibration;
    }

    private static void ShrinkProducers(OnnxGraph graph, ChannelGroup group, int[] kept, HashSet<string> names, List<LayerRow> rows, string criterion,
        Dictionary<NodeProto, int[]> outputMaps)
    {
        var tensors = group.Tensors.Where(t => t.Role != CoupledRole.Consumer).ToList();
        foreach (var producer in group.Producers)
        {
            // A bias an earlier group's bias correction gave this layer is not in the plan; it shrinks with the outputs.
            if (producer.OpType is "Conv" or "Gemm" && producer.Input.Count > 2 && producer.Input[2].Length > 0
                && !tensors.Any(t => t.Readers.Any(r => ReferenceEquals(r.Node, producer) && r.Input == 2))
                && ConstantSources.Find(graph, producer.Input[2]) is { Dims.Count: 1 } bias && bias.Dims[0] == group.Units)
            {
                tensors.Add(new CoupledTensor(producer.Input[2], 0, 1, CoupledRole.Parameter, [(producer, 2)]));
            }
        }

        foreach (var tensor in tensors)
        {
            var (node, input) = tensor.Readers[0];
            var current = ConstantSources.Find(graph, node.Input[input])!;
            var dims = current.Dims.ToArray();
            var indices = UnitSlices.KeptIndices(tensor.AxisUnits(dims[tensor.Axis]), kept);
            var values = UnitSlices.Keep(TensorCodec.ToSingle(current), dims, tensor.Axis, indices);
            var after = (long[])dims.Clone();
            after[tensor.Axis] = indices.Length;
            TensorEdits.Replace(graph, node.Input[input], tensor.Readers, TensorCodec.FromSingle("", after, values, TensorCodec.ElementTypeOf(current)), names);
            if (tensor.Role == CoupledRole.Producer)
            {
                rows.Add(Row(node, tensor.Name, current, dims, after, criterion, error: null));
                var previous = outputMaps.TryGetValue(node, out var map) ? map : Enumerable.Range(0, (int)dims[tensor.Axis]).ToArray();
                outputMaps[node] = indices.Select(i => previous[i]).ToArray();
            }
        }

        foreach (var shape in group.Shapes)
        {
            var current = ConstantSources.Find(graph, shape.Reader.Input[shape.Input])!;
            var values = TensorCodec.ToInt64(current);
            values[shape.Index] = kept.Length * shape.PerUnit;
            TensorEdits.Replace(graph, shape.Reader.Input[shape.Input], [(shape.Reader, shape.Input)],
                TensorCodec.FromInt64("", current.Dims.ToArray(), values), names);
        }

        foreach (var conv in group.Depthwise)
        {
            // One filter per channel: the group count is the (now shrunk) filter count, whatever else a Concat put beside the group's channels.
            conv.Attribute.First(a => a.Name == "group").I = ConstantSources.Find(graph, conv.Input[1])!.Dims[0];
        }

        foreach (var split in group.Splits)
        {
            ShrinkSplit(graph, split, kept.Count(u => u >= split.First && u < split.First + split.Count) - split.Count, names);
        }
    }

    /// <summary>Adds <paramref name="change"/> (negative) to one piece of a Split's sizes, writing the sizes out first if the Split had none.</summary>
    private static void ShrinkSplit(OnnxGraph graph, SplitEdit edit, int change, HashSet<string> names)
    {
        var split = edit.Split;
        var attribute = split.Attribute.FirstOrDefault(a => a.Name == "split");
        var input = split.Input.Count > 1 && split.Input[1].Length > 0 ? ConstantSources.Find(graph, split.Input[1]) : null;
        var sizes = input is not null ? TensorCodec.ToInt64(input) : attribute is not null ? attribute.Ints.ToArray() : edit.Sizes.ToArray();
        sizes[edit.Piece] += change;
        if ((graph.OpsetVersion("") ?? 1) < 13)
        {
            if (attribute is null)
            {
                attribute = new AttributeProto { Name = "split", Type = AttributeProto.Types.AttributeType.Ints };
                split.Attribute.Add(attribute);
            }

            attribute.Ints.Clear();
            attribute.Ints.AddRange(sizes);
            return;
        }

        var tensor = TensorCodec.FromInt64("", [sizes.Length], sizes);
        if (input is not null)
        {
            TensorEdits.Replace(graph, split.Input[1], [(split, 1)], tensor, names);
            return;
        }

        // Equal parts (opset 18 may say how many with num_outputs): sizes and num_outputs cannot both be given.
        if (split.Attribute.FirstOrDefault(a => a.Name == "num_outputs") is { } count)
        {
            split.Attribute.Remove(count);
        }

        tensor.Name = GraphScopes.UniqueName(names, $"{ChannelGroup.Describe(split)}_sizes");
        graph.SetInitializer(tensor);
        while (split.Input.Count < 2)
        {
            split.Input.Add("");
        }

        split.Input[1] = tensor.Name;
    }

    private static LayerRow RefitConsumer(OnnxGraph graph, GroupConsumer consumer, int[] kept, ConsumerStatistics? statistics,
        bool reconstruct, HashSet<string> names, string criterion, Dictionary<NodeProto, int[]> outputMaps)
    {
        var node = consumer.Node;
        var current = ConstantSources.Find(graph, node.Input[1])!;
        var dims = current.Dims.ToArray();
        var weight = new LayerWeight(node, current);
        var outputs = weight.Rows;
        var keptSet = new HashSet<int>(kept);
        var featureUnits = ConsumerStatisticsCollector.FeatureUnits(consumer, dims, weight.RowLength);
        var features = Enumerable.Range(0, featureUnits.Length).Where(f => featureUnits[f] < 0 || keptSet.Contains(featureUnits[f])).ToArray();
        var outputMap = outputMaps.TryGetValue(node, out var map) ? map : Enumerable.Range(0, outputs).ToArray();
        var refit = LayerRefit.Apply(weight.ReadColumns(), outputs, features, statistics, reconstruct, outputMap, OwnBias(graph, node, outputs));
        var after = (long[])dims.Clone();
        var axis = consumer.Weight.Axis;
        after[axis] = UnitSlices.KeptIndices(consumer.Weight.AxisUnits(dims[axis]), keptSet).Length;
        TensorEdits.Replace(graph, node.Input[1], [(node, 1)], weight.WriteColumns(refit.Matrix, after), names);
        if (refit.BiasDelta is { } delta)
        {
            CorrectBias(graph, node, delta, names);
        }

        return Row(node, consumer.Weight.Name, current, dims, after, criterion, refit.Error);
    }

    /// <summary>A shrunk weight's row: its share removed, and its bytes in its own element type before and after.</summary>
    private static LayerRow Row(NodeProto node, string weight, TensorProto before, long[] dims, long[] after, string criterion, double? error)
    {
        var type = TensorCodec.ElementTypeOf(before);
        var elementsAfter = TensorCodec.ElementCount(after);
        return new LayerRow(ChannelGroup.Describe(node), node.OpType, $"shrunk by {criterion}")
        {
            Weight = weight,
            Shape = dims,
            ShapeAfter = after,
            Sparsity = 1 - (double)elementsAfter / TensorCodec.ElementCount(dims),
            Error = error,
            BytesBefore = ElementTypes.RawByteLength(type, TensorCodec.ElementCount(dims)),
            BytesAfter = ElementTypes.RawByteLength(type, elementsAfter),
        };
    }

    /// <summary>What the layer itself adds to its output now: a Conv's bias, a Gemm's beta x C; zeros for a MatMul, whose bias is a separate Add.</summary>
    private static double[] OwnBias(OnnxGraph graph, NodeProto node, int outputs)
    {
        var bias = new double[outputs];
        if (node.OpType is "Conv" or "Gemm" && node.Input.Count > 2 && ConstantSources.Find(graph, node.Input[2]) is { } tensor)
        {
            var beta = node.OpType == "Gemm" ? node.Attribute.FirstOrDefault(a => a.Name == "beta")?.F ?? 1f : 1f;
            var values = TensorCodec.ToSingle(tensor);
            for (var o = 0; o < outputs; o++)
            {
                bias[o] = beta * values[values.Length == 1 ? 0 : o];
            }
        }

        return bias;
    }

    /// <summary>Adds the mean shift to the consumer's bias: a Conv's or Gemm's own (created when absent), or the constant Add after a MatMul.</summary>
    private static void CorrectBias(OnnxGraph graph, NodeProto node, double[] delta, HashSet<string> names)
    {
        NodeProto reader;
        int input;
        var scale = 1.0;
        if (node.OpType is "Conv" or "Gemm")
        {
            (reader, input) = (node, 2);
            if (node.OpType == "Gemm")
            {
                scale = node.Attribute.FirstOrDefault(a => a.Name == "beta")?.F ?? 1f;
                if (scale == 0)
                {
                    return;
                }
            }

            if (node.Input.Count <= 2 || node.Input[2].Length == 0)
            {
                var created = TensorCodec.FromSingle("", [delta.Length], delta.Select(d => (float)(d / scale)).ToArray(), ElementType.Float);
                created.Name = GraphScopes.UniqueName(names, $"{ChannelGroup.Describe(node)}_bias");
                graph.SetInitializer(created);
                while (node.Input.Count < 3)
                {
                    node.Input.Add("");
                }

                node.Input[2] = created.Name;
                return;
            }
        }
        else if (graph.Consumers(node.Output[0]) is [{ OpType: "Add" } add] && !graph.IsGraphOutput(node.Output[0]))
        {
            (reader, input) = (add, add.Input[0] == node.Output[0] ? 1 : 0);
        }
        else
        {
            return;
        }

        if (ConstantSources.Find(graph, reader.Input[input]) is not { } bias || bias.Dims.Count == 0 || bias.Dims[^1] != delta.Length
            || TensorCodec.ElementCount(bias) != delta.Length || !GroupFinder.IsFloat(bias))
        {
            return;
        }

        var values = TensorCodec.ToSingle(bias);
        for (var i = 0; i < values.Length; i++)
        {
            values[i] += (float)(delta[i] / scale);
        }

        TensorEdits.Replace(graph, reader.Input[input], [(reader, input)], TensorCodec.FromSingle("", bias.Dims.ToArray(), values, TensorCodec.ElementTypeOf(bias)), names);
    }
}
