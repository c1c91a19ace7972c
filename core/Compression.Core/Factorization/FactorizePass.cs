using System.Diagnostics;
using System.Globalization;
using Compression.Core.Calibration;
using Compression.Core.Data;
using Compression.Core.Diagnostics;
using Compression.Core.Evaluation;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Inspection;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Options;
using Compression.Core.Passes;

namespace Compression.Core.Factorization;

/// <summary>
/// The <c>factorize</c> step: splits MatMul, Gemm and Conv layers into low-rank factors (truncated SVD of the weight
/// whitened by its input's second moment on calibration data, Tucker-2 for k x k Convs), keeps a split only where it
/// saves parameters and, by default, runs faster here, and refits the last factor on the factored model's activations.
/// </summary>
public sealed class FactorizePass : Pass<FactorizeOptions>
{
    private const string Purpose = "Factorization";

    /// <summary>Calibration samples each layer's sensitivity is measured on (the first ones).</summary>
    private const int ProbeSamples = 32;

    public override string Name => "factorize";

    public override string Description =>
        "Low-rank factorization: splits MatMul, Gemm and Conv weights into two (Conv: up to three) smaller factors by data-aware truncated SVD or Tucker-2, so the model holds fewer parameters and, where it measures faster, runs faster.";

    protected override PassResult Run(OnnxModel model, FactorizeOptions options, PassContext context)
    {
        var stopwatch = Stopwatch.StartNew();
        var (plans, result) = Prepare(model, options, context.DataSets, context.Log, context.Cancellation);
        if (plans.Count == 0)
        {
            return new PassResult(model, result);
        }

        var original = new OnnxModel(model.Proto.Clone(), model.Path);
        var rows = new LayerRow[plans.Count]; // in the plans' (graph) order
        var split = new List<(int Index, RankPlanner.Plan Plan, Factors Factors, NodeProto[] Nodes, double? Speedup)>();
        var inputs = options.MinSpeedup > 0 ? TimingInputs(model, plans.Where(p => p.Choice is not null).ToList(), options, context) : [];
        for (var i = 0; i < plans.Count; i++)
        {
            context.Cancellation.ThrowIfCancellationRequested();
            var plan = plans[i];
            var target = plan.Layer.Target;
            if (plan.Choice is not { } choice)
            {
                context.Log.Report(Diagnostic.Warning(ErrorCodes.FactorizeLayerLeftDense, $"{target.Describe} is left dense: {plan.DenseReason}."));
                rows[i] = Row(target, $"dense: {plan.DenseReason}", null, target.Parameters, null, null);
                continue;
            }

            context.Log.Progress(Purpose, $"{target.Describe}: rank {choice}", (double)i / plans.Count);
            var factors = plan.Layer.Build(choice);
            var (nodes, tensors) = FactorGraph.Build(target, factors);
            double? speedup = null;
            if (options.MinSpeedup > 0 && inputs.TryGetValue(target.Node.Input[0], out var input))
            {
                speedup = FactorTiming.Speedup(model, target, nodes, tensors, input.Shape, input.Values, context.Cancellation);
                if (double.IsNaN(speedup.Value))
                {
                    speedup = null;
                }
                else if (speedup < options.MinSpeedup)
                {
                    var reason = $"its factors (rank {choice}) ran {Ratio(speedup.Value)} the dense layer's speed here, below min_speedup {Ratio(options.MinSpeedup)}";
                    context.Log.Verbose($"factorize: {target.Describe} is left dense: {reason}.");
                    rows[i] = Row(target, $"dense: {reason}", choice, target.Parameters, plan.Layer.PredictedError(choice), speedup);
                    continue;
                }
            }

            split.Add((i, plan, factors, FactorGraph.Apply(model.MainGraph, target, factors), speedup));
        }

        var errors = new Dictionary<FactorTarget, double>(ReferenceEqualityComparer.Instance);
        var refit = options.Refit && options.Calibration is not null && split.Count > 0;
        if (refit)
        {
            var calibration = options.Calibration!;
            // In graph order, each on the model with the layers before it refit: refit together, a layer would also
            // correct for errors its inputs no longer have once the layers before it are refit (measured: the residual
            // CNN lost 2.3 points that way against 1.0 without refit).
            var window = new CalibrationWindow(calibration.Data, calibration.Samples, calibration.BatchSize);
            foreach (var (_, plan, _, nodes, _) in split.Where(s => FactorRefit.CanRefit(s.Nodes[^1], model.MainGraph)))
            {
                var (_, refitError) = FactorRefit.Run(original, model, [new FactorRefit.Layer(plan.Layer.Target, nodes[^1])], window,
                    context.DataSets[calibration.Data], context.Log, context.Cancellation)[0];
                if (!double.IsNaN(refitError))
                {
                    errors[plan.Layer.Target] = refitError;
                }
            }
        }

        foreach (var (index, plan, factors, _, speedup) in split)
        {
            var target = plan.Layer.Target;
            var error = errors.TryGetValue(target, out var e) ? e : plan.Layer.Whitened ? plan.Layer.PredictedError(factors.Choice) : (double?)null;
            var action = $"split at rank {factors.Choice} ({target.Kind switch { FactorKind.Linear => "svd", FactorKind.ConvSvd => "conv svd", _ => "tucker-2" }}" +
                $"{(plan.Layer.Whitened ? ", whitened" : "")}{(errors.ContainsKey(target) ? ", refit" : "")})";
            rows[index] = Row(target, action, factors.Choice, factors.Choice.Parameters(target), error, speedup);
        }

        var before = rows.Sum(r => r.ParametersBefore ?? 0);
        var after = rows.Sum(r => r.ParametersAfter ?? 0);
        context.Log.Verbose($"factorize: {split.Count} of {plans.Count} layers split, {before:N0} -> {after:N0} parameters in {stopwatch.Elapsed.TotalSeconds:F1} s.");
        return new PassResult(model, result with
        {
            Layers = rows,
            FactoredLayers = split.Count,
            DenseLayers = plans.Count - split.Count,
            ParametersBefore = before,
            ParametersAfter = after,
            Refit = refit,
        });
    }

    /// <summary>
    /// What factorization would do, one line per layer (for -WhatIf): its shape, the rank chosen, the parameters before
    /// and after and the predicted relative output error (with calibration data: the spectra are computed, nothing is
    /// written), or why it stays dense.
    /// </summary>
    public static IReadOnlyList<string> PlanLayers(OnnxModel model, FactorizeOptions options, IReadOnlyDictionary<string, IDataSource> dataSets,
        ICompressionLog log, CancellationToken cancellation = default)
    {
        var (plans, _) = Prepare(model, options, dataSets, log, cancellation);
        var lines = new List<string>(plans.Count);
        foreach (var plan in plans)
        {
            var target = plan.Layer.Target;
            var shape = $"[{string.Join(", ", target.Weight.Dims)}]";
            lines.Add(plan.Choice is { } choice
                ? $"{target.Describe} {shape}: rank {choice}, {target.Parameters:N0} -> {choice.Parameters(target):N0} parameters, " +
                  $"predicted {(plan.Layer.Whitened ? "output" : "weight")} error {plan.Layer.PredictedError(choice):P1}"
                : $"{target.Describe} {shape}: dense: {plan.DenseReason}");
        }

        return lines;
    }

    /// <summary>The checks, the targets, their spectra (one calibration pass) and the plan; the result record to fill.</summary>
    private static (List<RankPlanner.Plan> Plans, FactorizeResult Result) Prepare(OnnxModel model, FactorizeOptions options,
        IReadOnlyDictionary<string, IDataSource> dataSets, ICompressionLog log, CancellationToken cancellation)
    {
        QuantizedModelCheck.ThrowIfNotFloat(model, ErrorCodes.QuantizedModelRefused, Purpose,
            "factorize the float model, then quantize (put factorize before quantize in the steps).");
        OptionChecks.ThrowIfInvalid(options, model.Path);
        if (options.Calibration is { } spec && !dataSets.ContainsKey(spec.Data))
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.FactorizeCalibrationMissing,
                $"Factorization calibrates on the data set '{spec.Data}', which the recipe does not define.", model.Path));
        }

        var method = options.ConcreteMethod;
        var result = new FactorizeResult(OptionNames.EnumName(method), OptionNames.EnumName(options.Allocation), OptionNames.EnumName(options.Conv))
        {
            MinSpeedup = options.MinSpeedup,
        };
        model.MainGraph.DropInitializerInputs();
        var (targets, skipped) = FactorTarget.Find(model, options);
        foreach (var (node, reason) in skipped)
        {
            log.Verbose($"factorize: '{OnnxGraph.Describe(node)} is left alone: {reason}.");
        }

        if (targets.Count == 0)
        {
            log.Report(Diagnostic.Warning(ErrorCodes.NothingFactorized,
                "Factorization found no MatMul, Gemm or dense Conv on a constant float32 weight it may split; the model is unchanged."));
            return ([], result);
        }

        if (method == FactorizeMethod.Svd && options.Calibration is null)
        {
            log.Report(Diagnostic.Warning(ErrorCodes.FactorizeWithoutData,
                "Factorizing without calibration data: the factors are the plain SVD of each weight, blind to which inputs matter. With calibration data (calibration.data, -CalibrationData) they are whitened by each layer's inputs and lose much less."));
        }

        var moments = new Dictionary<string, double[]>(StringComparer.Ordinal);
        if (method == FactorizeMethod.Whitened)
        {
            var calibration = options.Calibration!;
            var accumulators = HessianCollector.Collect(model, targets.Select(t => t.Input).ToList(),
                new CalibrationWindow(calibration.Data, calibration.Samples, calibration.BatchSize), dataSets[calibration.Data], Purpose, log, cancellation);
            foreach (var (key, accumulator) in accumulators)
            {
                moments[key] = Shrunk(accumulator.Hessian(), accumulator.Size, accumulator.Rows);
            }
        }

        var layers = targets.Select(t => new LayerFactors(t, moments.GetValueOrDefault(t.Input.Key))).ToList();
        using var probe = options.Allocation == RankAllocation.Sensitivity && options.Calibration is { } probeData
            ? new SensitivityProbe(model, dataSets[probeData.Data], Math.Min(ProbeSamples, probeData.Samples), probeData.BatchSize, cancellation)
            : null;
        var plans = RankPlanner.Choose(layers, options, probe is null ? null : (layer, choice) =>
        {
            log.Progress(Purpose, $"sensitivity of {layer.Target.Describe}", 0);
            return probe.RelativeError(layer.Target, layer.Build(choice));
        }, out var unmatched);
        foreach (var pattern in unmatched)
        {
            log.Report(Diagnostic.Warning(ErrorCodes.FactorizeLayersUnmatched, $"layers '{pattern}' matches no layer factorization may split, so it has no effect."));
        }

        return (plans, result);
    }

    /// <summary>
    /// The input moment shrunk toward its diagonal by features / rows (at most 1): from fewer rows than features (128
    /// images for a 784-pixel layer) X^T X has a null space the held-out data does not, and whitening by it alone fits
    /// the factors to the calibration samples; with many rows per feature (Conv patches, tokens) it is barely changed.
    /// </summary>
    private static double[] Shrunk(double[] moment, int size, long rows)
    {
        var weight = Math.Min(1.0, (double)size / Math.Max(1, rows));
        for (var i = 0; i < size; i++)
        {
            moment[(long)i * size + i] *= 1 + weight;
        }

        return moment;
    }

    /// <summary>
    /// Each timed layer's input at batch 1: the first calibration sample's, or without data a fixed pseudo-random
    /// input of the shape the graph gives (unknown dims other than the batch taken as 64).
    /// </summary>
    private static Dictionary<string, OutputValue> TimingInputs(OnnxModel model, List<RankPlanner.Plan> plans, FactorizeOptions options, PassContext context)
    {
        var values = plans.Select(p => p.Layer.Target.Node.Input[0]).Distinct(StringComparer.Ordinal).ToList();
        var inputs = new Dictionary<string, OutputValue>(StringComparer.Ordinal);
        if (values.Count == 0)
        {
            return inputs;
        }

        if (options.Calibration is { } calibration)
        {
            foreach (var (_, captured) in ActivationCapture.Capture(model, values, context.DataSets[calibration.Data].FirstSamples(1), 1, 1, context.Cancellation))
            {
                for (var i = 0; i < values.Count; i++)
                {
                    var value = captured[i];
                    var perSample = value.Values.Length / Math.Max(1, value.Shape[0]);
                    inputs[values[i]] = value with { Shape = [1, .. value.Shape[1..]], Values = value.Values[..(int)perSample] };
                }

                break;
            }

            return inputs;
        }

        var shapes = StaticShapes.Of(model.Proto.Graph);
        var random = new Random(1);
        foreach (var value in values)
        {
            if (shapes.Shape(value) is not { Length: > 0 } shape)
            {
                context.Log.Verbose($"factorize: the shape of '{value}' is unknown; its layer is not timed.");
                continue;
            }

            var known = shape.Select((d, i) => d >= 0 ? d : i == 0 ? 1 : 64).ToArray();
            var data = new float[known.Aggregate(1L, (a, b) => a * b)];
            for (var i = 0; i < data.Length; i++)
            {
                data[i] = (float)(random.NextDouble() * 2 - 1);
            }

            inputs[value] = new OutputValue(value, known, data);
        }

        return inputs;
    }

    private static LayerRow Row(FactorTarget target, string action, FactorChoice? choice, long parametersAfter, double? error, double? speedup) =>
        new(target.Node.Name, target.Node.OpType, action)
        {
            Weight = target.Weight.Tensor.Name,
            Shape = target.Weight.Dims.ToArray(),
            Rank = choice?.ToString(),
            ParametersBefore = target.Parameters,
            ParametersAfter = parametersAfter,
            BytesBefore = target.Parameters * sizeof(float),
            BytesAfter = parametersAfter * sizeof(float),
            Error = error,
            Speedup = speedup,
        };

    private static string Ratio(double value) => value.ToString("0.00", CultureInfo.InvariantCulture) + "x";
}
