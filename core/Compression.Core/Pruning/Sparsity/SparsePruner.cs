using System.Diagnostics;
using System.Globalization;
using Compression.Core.Calibration;
using Compression.Core.Diagnostics;
using Compression.Core.Layers;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Options;
using Compression.Core.Passes;
using Compression.Core.Passes.Graph;

namespace Compression.Core.Pruning.Sparsity;

/// <summary>
/// Unstructured and N:M pruning of MatMul, Gemm and Conv weights: scores every weight by the criterion, picks the
/// sparsity of each layer (the target, or shared out over all layers by importance for global scope), zeroes the
/// lowest, and with calibration data refits what remains (SparseGPT) and corrects the bias. The shapes do not
/// change; the report says what zeros do and do not buy.
/// </summary>
internal sealed class SparsePruner : IPruner
{
    public PassResult Prune(OnnxModel model, PruneOptions options, PassContext context)
    {
        var pattern = Validate(options, context);
        var stopwatch = Stopwatch.StartNew();
        var criterionName = OptionNames.EnumName(options.Criterion);
        model = PruneTargets.Prepare(model, context);
        var targets = PruneTargets.Find(model, options.Exclude, context.Log);
        if (pattern is not null)
        {
            targets = targets.Where(t => FitsPattern(t, pattern, context.Log)).ToList();
        }

        var found = targets.Count;
        var (kept, pinned) = LayerSparsities(targets, options, context.Log);
        targets = kept;
        var result = new SparsePruneResult(pattern is null ? "unstructured" : $"{pattern} (n:m)", criterionName, OptionNames.EnumName(options.Scope));
        if (targets.Count == 0 && found > 0)
        {
            context.Log.Verbose($"prune: every one of the {found} prunable layers is left dense by its layers entry; the model is unchanged.");
            return new PassResult(model, result);
        }

        if (targets.Count == 0)
        {
            context.Log.Report(Diagnostic.Warning(ErrorCodes.NothingPruned,
                "Pruning found no MatMul, Gemm or Conv on a constant float weight; the model is unchanged. A weight computed in the graph (e.g. by a Reshape) becomes constant after a fold_constants step."));
            return new PassResult(model, result);
        }

        var layerStatistics = options.Calibration is { } calibration ? Collect(model, targets, calibration, context) : [];
        WarnUncalibrated(targets, options, layerStatistics, context.Log);
        var reconstruct = options.Reconstruct && layerStatistics.Count > 0;
        var rowsByTarget = targets.Select(t => t.Weight.ReadRows()).ToList();
        var sparsities = pattern is not null ? targets.Select(_ => pattern.Sparsity).ToArray()
            : options.Scope == PruningScope.Global && layerStatistics.Count > 0
                ? MeasuredAllocation.Allocate(targets, options, pinned,
                    (i, sparsity) => MeasuredError(rowsByTarget[i], targets[i], layerStatistics.GetValueOrDefault(targets[i]), sparsity, options, reconstruct, context.Cancellation),
                    context.Cancellation)
            : options.Scope == PruningScope.Global ? SparsityAllocation.Global(targets, rowsByTarget, layerStatistics, options, pinned)
            : pinned.Select(p => p ?? options.Sparsity).ToArray();
        if (pattern is null && options.Scope == PruningScope.Global && pinned.Any(p => p is not null))
        {
            WarnPinned(targets, pinned, sparsities, options, context.Log);
        }

        var names = GraphScopes.AllValueNames(model);
        var layers = new List<LayerRow>();
        var dense = new List<string>();
        long zeros = 0, total = 0;
        for (var i = 0; i < targets.Count; i++)
        {
            context.Cancellation.ThrowIfCancellationRequested();
            var target = targets[i];
            context.Log.Progress("Pruning", $"{target.Describe}: {sparsities[i]:P0}", (double)i / targets.Count);
            var before = rowsByTarget[i];
            var after = (float[])before.Clone();
            var layer = layerStatistics.GetValueOrDefault(target);
            Prune(after, target, layer, sparsities[i], pattern, options, reconstruct, context.Cancellation);

            double? error = null;
            float[]? shift = null;
            if (layer is not null)
            {
                shift = reconstruct ? layer.MeanShift(before, after, target.Weight.Rows) : null;
                error = layer.RelativeError(before, after, target.Weight.Rows, shift);
            }

            if (pattern is not null && options.Calibration is not null && (error ?? WeightError(before, after)) is var cost && cost > options.MaxLayerError)
            {
                dense.Add(string.Create(CultureInfo.InvariantCulture, $"{target.Describe} ({cost:0.###})"));
                total += before.Length;
                layers.Add(Row(target, $"left dense: relative output error {cost.ToString("0.###", CultureInfo.InvariantCulture)} at {pattern} is above max_layer_error") with { Sparsity = 0 });
                continue;
            }

            if (shift is not null && !BiasCorrection.Apply(target, shift, names))
            {
                error = layer!.RelativeError(before, after, target.Weight.Rows, null);
            }

            target.WriteRows(after);
            var zeroCount = CountZeros(after);
            zeros += zeroCount;
            total += after.Length;
            layers.Add(Row(target, $"pruned by {(layer is null && options.Calibration is not null ? "l1 (no calibration statistics)" : criterionName)}") with
            {
                Sparsity = Math.Round((double)zeroCount / after.Length, 4),
                Error = error is { } e ? Math.Round(e, 6) : null,
            });
        }

        if (dense.Count > 0)
        {
            context.Log.Report(Diagnostic.Warning(ErrorCodes.LayerLeftDense, string.Create(CultureInfo.InvariantCulture,
                $"{dense.Count} layer(s) stay dense: the {pattern} pattern would cost them more than max_layer_error ({options.MaxLayerError}) of their output on the calibration data: {string.Join(", ", dense)}.")));
        }

        var sparse = SparseStorageWriter.Convert(model, targets, options.Storage);
        result = result with
        {
            PrunedLayers = targets.Count,
            PrunedWeights = zeros,
            PrunableWeights = total,
            Sparsity = Math.Round((double)zeros / Math.Max(1, total), 4),
            Reconstruction = reconstruct ? "sparsegpt + bias correction" : options.Reconstruct ? "none (no calibration data)" : "none",
            SparseInitializers = sparse,
            Storage = StorageNote(sparse, zeros, total, model.Proto.IrVersion),
            Layers = layers,
        };
        context.Log.Verbose($"prune: {targets.Count} layers to {result.Sparsity:P1} zeros ({result.Reconstruction}) in {stopwatch.Elapsed.TotalSeconds:F1} s.");
        return new PassResult(model, result);
    }

    /// <summary>The row of a layer whose shape pruning keeps; the weight's bytes stay dense here (sparse storage is per model).</summary>
    private static LayerRow Row(PruneTarget target, string action) => new(target.Node.Name, target.Node.OpType, action)
    {
        Weight = target.WeightValue,
        Shape = target.Weight.Dims.ToArray(),
    };

    /// <summary>
    /// One line per layer that would be pruned: the node, the weight's shape and how many of its weights would go (its
    /// <c>layers</c> entry's sparsity where one matches); the layers left dense and why; the entries that match nothing.
    /// </summary>
    public static IReadOnlyList<string> Plan(OnnxModel model, PruneOptions options)
    {
        OptionChecks.ThrowIfInvalid(options, model.Path);
        options = options.WithConcreteDefaults();
        var pattern = options.Method == PruningMethod.NM ? NmPattern.Parse(options.Pattern) : null;

        var log = new CollectingLog();
        var targets = PruneTargets.Find(PruneTargets.Prepare(model, new PassContext(log)), options.Exclude, log);
        var rules = new NodeRules<LayerPruneSpec>(options.Layers);
        var lines = new List<string>();

        // Under global scope the layers without an entry share what the pinned ones leave of the target: about this much each.
        var pinnedZeros = 0.0;
        long total = 0, free = 0;
        foreach (var target in targets)
        {
            total += target.Weight.Count;
            if (rules.For(target.Node)?.Value.Sparsity is { } fixedSparsity)
            {
                pinnedZeros += fixedSparsity * target.Weight.Count;
            }
            else
            {
                free += target.Weight.Count;
            }
        }

        var shared = free == 0 ? 0 : Math.Clamp((options.Sparsity * total - pinnedZeros) / free, options.MinRatio, options.LayerCeiling);
        foreach (var target in targets)
        {
            var shape = string.Join("x", target.Weight.Dims);
            var rule = rules.For(target.Node);
            var own = rule?.Value.Sparsity;
            var why = rule is { } r && own is not null ? $" (layers '{r.Pattern}')" : "";
            lines.Add(own == 0 ? $"{target.Describe} [{shape}]: left dense{why}"
                : pattern is not null && target.Weight.RowLength % pattern.Group != 0
                    ? $"{target.Describe} [{shape}]: left dense (K = {target.Weight.RowLength} is not a multiple of {pattern.Group})"
                : pattern is not null
                    ? $"{target.Describe} [{shape}]: {pattern} along K = {target.Weight.RowLength}, {(long)(target.Weight.Count * pattern.Sparsity)} of {target.Weight.Count} weights zeroed"
                : own is { } sparsity
                    ? $"{target.Describe} [{shape}]: {(long)Math.Round(target.Weight.Count * sparsity)} of {target.Weight.Count} weights zeroed{why}"
                : options.Scope == PruningScope.Global
                    ? $"{target.Describe} [{shape}]: about {(long)Math.Round(target.Weight.Count * shared)} of {target.Weight.Count} weights zeroed"
                    : $"{target.Describe} [{shape}]: {(long)Math.Round(target.Weight.Count * options.Sparsity)} of {target.Weight.Count} weights zeroed");
        }

        lines.AddRange(rules.Unmatched.Select(p => $"layers '{p}': matches no layer pruning can prune, so it has no effect"));
        return lines;
    }

    /// <summary>
    /// Each layer's own sparsity from the first <c>layers</c> entry that matches it (null: the step's); layers an entry
    /// sets to 0 are left dense, and entries that match no layer are reported.
    /// </summary>
    private static (List<PruneTarget> Targets, List<double?> Pinned) LayerSparsities(List<PruneTarget> targets, PruneOptions options, ICompressionLog log)
    {
        var rules = new NodeRules<LayerPruneSpec>(options.Layers);
        var kept = new List<PruneTarget>(targets.Count);
        var pinned = new List<double?>(targets.Count);
        foreach (var target in targets)
        {
            var rule = rules.For(target.Node);
            if (rule is { Value.Sparsity: 0 } dense)
            {
                log.Verbose($"prune: {target.Describe} is left dense (layers '{dense.Pattern}' sets sparsity 0).");
                continue;
            }

            kept.Add(target);
            pinned.Add(options.Method == PruningMethod.NM ? null : rule?.Value.Sparsity);
        }

        foreach (var pattern in rules.Unmatched)
        {
            log.Report(Diagnostic.Warning(ErrorCodes.PruneLayersUnmatched,
                $"The layers entry '{pattern}' matches no layer this step prunes (a MatMul, Gemm or Conv on a constant float weight, not excluded, by node name with * and ? or by op type), so it has no effect."));
        }

        return (kept, pinned);
    }

    private static void WarnPinned(List<PruneTarget> targets, List<double?> pinned, double[] sparsities, PruneOptions options, ICompressionLog log)
    {
        var own = targets.Select((t, i) => (Target: t, Sparsity: pinned[i])).Where(p => p.Sparsity is not null).ToList();
        long free = 0, total = 0;
        double freeZeros = 0, zeros = 0;
        for (var i = 0; i < targets.Count; i++)
        {
            total += targets[i].Weight.Count;
            zeros += sparsities[i] * targets[i].Weight.Count;
            if (pinned[i] is null)
            {
                free += targets[i].Weight.Count;
                freeZeros += sparsities[i] * targets[i].Weight.Count;
            }
        }

        // The others are held within [min_ratio, max_ratio], so the total can miss the target: say what it comes to.
        var others = free == 0
            ? "no other layer is left to share the target, so the step's sparsity has no effect"
            : $"the other {targets.Count - own.Count} layer(s) share out the rest of the {Percent(options.Sparsity)} target: they average {Percent(freeZeros / free)}, all layers together {Percent(zeros / total)}";
        log.Report(Diagnostic.Warning(ErrorCodes.PruneLayersPinned,
            $"scope: global with layers entries: {string.Join(", ", own.Select(p => $"{p.Target.Describe} at {Percent(p.Sparsity!.Value)}"))} keep their own sparsity; {others}."));
    }

    private static string Percent(double fraction) => fraction.ToString("P1", CultureInfo.InvariantCulture);

    /// <summary>The N:M pattern when the method is N:M (the options are checked by <see cref="PruneOptions.Problems"/>), after the data set is.</summary>
    private static NmPattern? Validate(PruneOptions options, PassContext context)
    {
        OptionChecks.ThrowIfInvalid(options);
        if (options.Calibration is { } calibration && !context.DataSets.ContainsKey(calibration.Data))
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.PruneCalibrationMissing,
                $"Pruning calibrates on the data set '{calibration.Data}', which the recipe does not define."));
        }

        return options.Method == PruningMethod.NM ? NmPattern.Parse(options.Pattern) : null;
    }

    private static bool FitsPattern(PruneTarget target, NmPattern pattern, ICompressionLog log)
    {
        if (target.Weight.RowLength % pattern.Group == 0)
        {
            return true;
        }

        log.Report(Diagnostic.Warning(ErrorCodes.LayerLeftDense,
            $"{target.Describe} is left dense: its reduction dimension ({target.Weight.RowLength}) is not a multiple of {pattern.Group} for the {pattern} pattern."));
        return false;
    }

    /// <summary>One calibration pass over the model for every target that has a Hessian input.</summary>
    private static Dictionary<PruneTarget, LayerStatistics> Collect(OnnxModel model, List<PruneTarget> targets, StepCalibrationSpec calibration, PassContext context)
    {
        var inputs = targets.Where(t => t.Input is not null).Select(t => t.Input!).ToList();
        if (inputs.Count == 0)
        {
            return [];
        }

        var accumulators = HessianCollector.Collect(model, inputs, new CalibrationWindow(calibration.Data, calibration.Samples, calibration.BatchSize), context.DataSets[calibration.Data], "Pruning", context.Log, context.Cancellation);
        var shared = accumulators.ToDictionary(a => a.Key, a => new LayerStatistics(a.Value.Hessian(), a.Value.Mean(), a.Value.Size), StringComparer.Ordinal);
        var statistics = new Dictionary<PruneTarget, LayerStatistics>(ReferenceEqualityComparer.Instance);
        foreach (var target in targets.Where(t => t.Input is not null))
        {
            statistics[target] = shared[target.Input!.Key];
        }

        return statistics;
    }

    private static void WarnUncalibrated(List<PruneTarget> targets, PruneOptions options, Dictionary<PruneTarget, LayerStatistics> statistics, ICompressionLog log)
    {
        if (options.Calibration is null)
        {
            return;
        }

        foreach (var target in targets.Where(t => !statistics.ContainsKey(t)))
        {
            log.Report(Diagnostic.Warning(ErrorCodes.LayerLeftDense,
                $"{target.Describe} is pruned by magnitude alone, without calibration statistics or reconstruction: {target.NoStatisticsReason}."));
        }
    }

    /// <summary>
    /// The relative output error of one layer pruned alone to <paramref name="sparsity"/> as this step would prune it;
    /// a layer without calibration statistics is measured by its weights alone (identity input covariance).
    /// </summary>
    private static double MeasuredError(float[] before, PruneTarget target, LayerStatistics? layer, double sparsity, PruneOptions options, bool reconstruct,
        CancellationToken cancellation)
    {
        var after = (float[])before.Clone();
        Prune(after, target, layer, sparsity, null, options, reconstruct, cancellation);
        return layer is not null
            ? layer.RelativeError(before, after, target.Weight.Rows, reconstruct ? layer.MeanShift(before, after, target.Weight.Rows) : null)
            : WeightError(before, after);
    }

    /// <summary>The relative change of a layer's weights: its output error where no calibration statistics describe its inputs.</summary>
    private static double WeightError(float[] before, float[] after)
    {
        double error = 0, signal = 0;
        for (var i = 0; i < before.Length; i++)
        {
            var difference = (double)before[i] - after[i];
            error += difference * difference;
            signal += (double)before[i] * before[i];
        }

        return signal == 0 ? 0 : error / signal;
    }

    /// <summary>Zeroes the layer's weights in place: by mask, or by SparseGPT's sweep when reconstructing.</summary>
    private static void Prune(float[] rows, PruneTarget target, LayerStatistics? layer, double sparsity, NmPattern? pattern, PruneOptions options,
        bool reconstruct, CancellationToken cancellation)
    {
        var criterion = layer is null ? ImportanceCriterion.L1 : options.Criterion;
        if (reconstruct && layer is not null && criterion == ImportanceCriterion.OutputError)
        {
            if (pattern is null)
            {
                SparseReconstructor.Adaptive(rows, target.Weight.Rows, layer, sparsity, cancellation);
            }
            else
            {
                SparseReconstructor.Adaptive(rows, target.Weight.Rows, layer, pattern, cancellation);
            }

            return;
        }

        var scores = WeightScores.Score(rows, target.Weight.RowLength, criterion, layer);
        var mask = pattern is null
            ? PruneMasks.Unstructured(scores, target.Weight.Rows, target.Weight.RowLength, sparsity, WeightScores.RanksPerRow(criterion, layer))
            : PruneMasks.SemiStructured(scores, pattern);
        if (reconstruct && layer is not null)
        {
            SparseReconstructor.WithMask(rows, target.Weight.Rows, layer, mask, cancellation);
            return;
        }

        for (var i = 0; i < rows.Length; i++)
        {
            rows[i] = mask[i] ? 0 : rows[i];
        }
    }

    private static long CountZeros(float[] values)
    {
        long zeros = 0;
        foreach (var value in values)
        {
            zeros += value == 0 ? 1 : 0;
        }

        return zeros;
    }

    /// <summary>What the zeros buy, said plainly for the report.</summary>
    private static string StorageNote(int sparse, long zeros, long total, long irVersion)
    {
        const string speed = "ONNX Runtime's CPU kernels do not skip zeros, so the pruned model runs no faster";
        if (sparse > 0)
        {
            return $"{sparse} weights stored as sparse initializers (values plus int64 indices), so the file shrinks; ONNX Runtime expands them to dense when it loads the model: {speed}.";
        }

        var why = irVersion < 6
            ? "the model's IR version is below 6, which has no sparse initializers"
            : $"sparse storage (12 bytes per kept weight) would be larger than dense at {(double)zeros / Math.Max(1, total):P0} zeros; it pays off above 67 %";
        return $"Dense: a zero takes 4 bytes like any weight, so the file does not shrink ({why}; a zip of the file does shrink); {speed}.";
    }
}
