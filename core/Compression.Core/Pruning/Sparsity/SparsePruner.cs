using System.Diagnostics;
using System.Globalization;
using Compression.Core.Diagnostics;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Passes;
using Compression.Core.Passes.Graph;
using Compression.Core.Quantization.WeightOnly;
using Compression.Core.Recipes;

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
        var criterionName = OptionBinder.EnumName(options.Criterion);
        model = PruneTargets.Prepare(model, context);
        var targets = PruneTargets.Find(model, options.Exclude, context.Log);
        if (pattern is not null)
        {
            targets = targets.Where(t => FitsPattern(t, pattern, context.Log)).ToList();
        }

        var statistics = new Dictionary<string, object>
        {
            ["method"] = pattern is null ? "unstructured" : $"{pattern} (n:m)",
            ["criterion"] = criterionName,
            ["scope"] = OptionBinder.EnumName(options.Scope),
        };
        if (targets.Count == 0)
        {
            context.Log.Report(Diagnostic.Warning(ErrorCodes.NothingPruned,
                "Pruning found no MatMul, Gemm or Conv on a constant float weight; the model is unchanged. A weight computed in the graph (e.g. by a Reshape) becomes constant after a fold_constants step."));
            statistics["pruned_layers"] = 0;
            return new PassResult(model, statistics);
        }

        var layerStatistics = options.Calibration is { } calibration ? Collect(model, targets, calibration, context) : [];
        WarnUncalibrated(targets, options, layerStatistics, context.Log);
        var reconstruct = options.Reconstruct && layerStatistics.Count > 0;
        var rowsByTarget = targets.Select(t => t.ReadRows()).ToList();
        var sparsities = pattern is not null ? targets.Select(_ => pattern.Sparsity).ToArray()
            : options.Scope == PruningScope.Global ? SparsityAllocation.Global(targets, rowsByTarget, layerStatistics, options)
            : targets.Select(_ => options.Sparsity).ToArray();

        var names = GraphScopes.AllValueNames(model);
        var layers = new List<PrunedLayer>();
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
            if (layer is not null)
            {
                float[]? shift = null;
                if (reconstruct)
                {
                    shift = layer.MeanShift(before, after, target.Rows);
                    shift = BiasCorrection.Apply(target, shift, names) ? shift : null;
                }

                error = layer.RelativeError(before, after, target.Rows, shift);
            }

            target.WriteRows(after);
            var zeroCount = CountZeros(after);
            zeros += zeroCount;
            total += after.Length;
            layers.Add(new PrunedLayer(target.Node.Name, target.Node.OpType, target.WeightValue, target.Weight.Dims.ToArray(), target.Weight.Dims.ToArray(),
                Math.Round((double)zeroCount / after.Length, 4), layer is null && options.Calibration is not null ? "l1 (no calibration statistics)" : criterionName,
                error is { } e ? Math.Round(e, 6) : null));
        }

        var sparse = SparseStorageWriter.Convert(model, targets, options.Storage);
        statistics["pruned_layers"] = targets.Count;
        statistics["pruned_weights"] = zeros;
        statistics["prunable_weights"] = total;
        statistics["sparsity"] = Math.Round((double)zeros / Math.Max(1, total), 4);
        statistics["reconstruction"] = reconstruct ? "sparsegpt + bias correction" : options.Reconstruct ? "none (no calibration data)" : "none";
        statistics["sparse_initializers"] = sparse;
        statistics["storage"] = StorageNote(sparse, zeros, total, model.Proto.IrVersion);
        statistics["layers"] = layers;
        context.Log.Verbose($"prune: {targets.Count} layers to {(double)zeros / Math.Max(1, total):P1} zeros ({statistics["reconstruction"]}) in {stopwatch.Elapsed.TotalSeconds:F1} s.");
        return new PassResult(model, statistics);
    }

    /// <summary>One line per layer that would be pruned: the node, the weight's shape and how many of its weights would go.</summary>
    public static IReadOnlyList<string> Plan(OnnxModel model, PruneOptions options)
    {
        options = options.WithConcreteCriterion();
        var pattern = options.Method == PruningMethod.NM ? NmPattern.Parse(options.Pattern) : null;
        var log = new CollectingLog();
        var targets = PruneTargets.Find(PruneTargets.Prepare(model, new PassContext(log)), options.Exclude, log);
        var lines = new List<string>();
        foreach (var target in targets)
        {
            var shape = string.Join("x", target.Weight.Dims);
            lines.Add(pattern is not null && target.Length % pattern.Group != 0
                ? $"{target.Describe} [{shape}]: left dense (K = {target.Length} is not a multiple of {pattern.Group})"
                : pattern is not null
                    ? $"{target.Describe} [{shape}]: {pattern} along K = {target.Length}, {(long)(target.Count * pattern.Sparsity)} of {target.Count} weights zeroed"
                    : $"{target.Describe} [{shape}]: {(options.Scope == PruningScope.Global ? "about " : "")}{(long)Math.Round(target.Count * options.Sparsity)} of {target.Count} weights zeroed");
        }

        return lines;
    }

    /// <summary>Checks the options before anything is read; the N:M pattern when the method is N:M.</summary>
    private static NmPattern? Validate(PruneOptions options, PassContext context)
    {
        if (!(options.Sparsity >= 0 && options.Sparsity < 1))
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.PruneSparsity,
                $"The sparsity must be in [0, 1): the fraction of weights removed; got {options.Sparsity.ToString(CultureInfo.InvariantCulture)}."));
        }

        var pattern = options.Method == PruningMethod.NM ? NmPattern.Parse(options.Pattern) : null;
        if (options.Criterion is ImportanceCriterion.Fpgm or ImportanceCriterion.Apoz)
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.PruneCriterion,
                $"The criterion '{OptionBinder.EnumName(options.Criterion)}' scores whole channels; {(pattern is null ? "unstructured" : "N:M")} pruning scores single weights: use l1, l2, activation or output_error."));
        }

        if (options.MinRatio > options.MaxRatio)
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.PruneOptionConflict,
                $"min_ratio ({options.MinRatio.ToString(CultureInfo.InvariantCulture)}) is above max_ratio ({options.MaxRatio.ToString(CultureInfo.InvariantCulture)})."));
        }

        if (pattern is not null && options.Scope == PruningScope.Global)
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.PruneOptionConflict,
                $"scope: global does not apply to the N:M method: the pattern {pattern} fixes every layer's sparsity at {pattern.Sparsity:P0}."));
        }

        if (pattern is null && options.Scope == PruningScope.Global && (options.Sparsity < options.MinRatio || options.Sparsity > options.MaxRatio))
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.PruneOptionConflict,
                $"The global sparsity {options.Sparsity.ToString(CultureInfo.InvariantCulture)} cannot be reached with every layer between min_ratio {options.MinRatio.ToString(CultureInfo.InvariantCulture)} and max_ratio {options.MaxRatio.ToString(CultureInfo.InvariantCulture)}."));
        }

        if (options.Calibration is null && options.Criterion is ImportanceCriterion.Activation or ImportanceCriterion.OutputError)
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.PruneCalibrationMissing,
                $"The criterion '{OptionBinder.EnumName(options.Criterion)}' is measured on calibration data: set calibration.data (recipe) or -CalibrationData (cmdlet), or use l1."));
        }

        if (options.Calibration is { } calibration && !context.DataSets.ContainsKey(calibration.Data))
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.PruneCalibrationMissing,
                $"Pruning calibrates on the data set '{calibration.Data}', which the recipe does not define."));
        }

        return pattern;
    }

    private static bool FitsPattern(PruneTarget target, NmPattern pattern, ICompressionLog log)
    {
        if (target.Length % pattern.Group == 0)
        {
            return true;
        }

        log.Report(Diagnostic.Warning(ErrorCodes.LayerLeftDense,
            $"{target.Describe} is left dense: its reduction dimension ({target.Length}) is not a multiple of {pattern.Group} for the {pattern} pattern."));
        return false;
    }

    /// <summary>One calibration pass over the model for every target that has a Hessian input.</summary>
    private static Dictionary<PruneTarget, LayerStatistics> Collect(OnnxModel model, List<PruneTarget> targets, PruneCalibrationSpec calibration, PassContext context)
    {
        var inputs = targets.Where(t => t.Input is not null).Select(t => t.Input!).ToList();
        if (inputs.Count == 0)
        {
            return [];
        }

        var accumulators = HessianCollector.Collect(model, inputs, new CalibrationWindow(calibration.Data, calibration.Samples, calibration.BatchSize), "Pruning", context);
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

    /// <summary>Zeroes the layer's weights in place: by mask, or by SparseGPT's sweep when reconstructing.</summary>
    private static void Prune(float[] rows, PruneTarget target, LayerStatistics? layer, double sparsity, NmPattern? pattern, PruneOptions options,
        bool reconstruct, CancellationToken cancellation)
    {
        var criterion = layer is null ? ImportanceCriterion.L1 : options.Criterion;
        if (reconstruct && layer is not null && criterion == ImportanceCriterion.OutputError)
        {
            if (pattern is null)
            {
                SparseReconstructor.Adaptive(rows, target.Rows, layer, sparsity, cancellation);
            }
            else
            {
                SparseReconstructor.Adaptive(rows, target.Rows, layer, pattern, cancellation);
            }

            return;
        }

        var scores = WeightScores.Score(rows, target.Length, criterion, layer);
        var mask = pattern is null
            ? PruneMasks.Unstructured(scores, target.Rows, target.Length, sparsity, WeightScores.RanksPerRow(criterion, layer))
            : PruneMasks.SemiStructured(scores, pattern);
        if (reconstruct && layer is not null)
        {
            SparseReconstructor.WithMask(rows, target.Rows, layer, mask, cancellation);
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
