using System.Globalization;
using System.IO.Enumeration;
using Compression.Core.Diagnostics;
using Compression.Core.Evaluation.Metrics;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Passes;
using Compression.Core.Quantization.Calibration;
using Compression.Core.Quantization.Fallback;
using Compression.Core.Quantization.Recurrent;

namespace Compression.Core.Quantization.Static;

/// <summary>
/// Static int8 (or 16-bit) quantization: activation ranges calibrated on data, weights per channel or per tensor,
/// int32 biases, written as QDQ or as integer operators. With <c>format: auto</c> both are measured here (batch 1,
/// one thread) and, of those whose outputs keep cosine >= <see cref="AutoCosineTarget"/> to the float model on the
/// calibration data, integer operators (the smaller file) are kept unless QDQ is faster by more than
/// <see cref="AutoMargin"/>: timing noise alone must not change the output, which builds rely on being the same
/// from run to run. When no candidate beats float32 the faster quantized one is still kept (the
/// file is ~4x smaller, which is what was asked for) with a warning that says so; when none meets the fidelity
/// target the most faithful is kept with a warning.
/// </summary>
internal sealed class StaticQuantizer : IModeQuantizer
{
    public const double AutoCosineTarget = 0.99;

    /// <summary>How much faster than the preferred format another must be for <c>format: auto</c> to take it.</summary>
    public const double AutoMargin = 0.15;

    private const string MicrosoftDomain = "com.microsoft";

    public PassResult Quantize(OnnxModel model, QuantizeOptions options, PassContext context)
    {
        options = options.WithConcreteAlgorithm(QuantizationMode.Static);
        QuantizedModelCheck.ThrowIfQuantized(model);
        var spec = options.Calibration ?? throw new CompressionException(Diagnostic.Error(ErrorCodes.CalibrationDataMissing,
            "Static quantization needs calibration data: add calibration: { data: <name> }.", model.Path));
        if (!context.DataSets.TryGetValue(spec.Data, out var data))
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.CalibrationDataMissing,
                $"The calibration data set '{spec.Data}' is not defined; defined: {(context.DataSets.Count == 0 ? "none" : string.Join(", ", context.DataSets.Keys))}.", model.Path));
        }

        var (prepared, fusedNodes) = ModelPreparation.Prepare(model, context);
        var sixteenBit = options.ActivationType is QuantizedType.U16 or QuantizedType.S16;
        var wantsIntegerOps = options.Format != QuantizationFormat.Qdq;
        var opset = options.PerChannel || wantsIntegerOps ? 13 : 10;
        // 16-bit QDQ uses ONNX Runtime's com.microsoft Q/DQ (opset 21 would re-version far more ops than 16-bit needs).
        var blocker = sixteenBit ? null : OpsetUpgrade.TryRaise(prepared, opset);
        if (blocker is not null)
        {
            context.Log.Verbose($"static quantization: opset {prepared.OpsetVersion("")} cannot be raised to {opset} ({blocker}); using com.microsoft QuantizeLinear/DequantizeLinear.");
        }

        var qdqDomain = !sixteenBit && blocker is null ? "" : MicrosoftDomain;
        if (qdqDomain == MicrosoftDomain || wantsIntegerOps)
        {
            EnsureImport(prepared, MicrosoftDomain, 1);
        }

        var tapMeans = ConvTapMeans.For(prepared.MainGraph);
        var ranges = ActivationRangeCollector.Collect(prepared, QdqBuilder.TensorsToCalibrate(prepared.MainGraph, options.ActivationType), data, spec,
            options.ActivationType, tapMeans, context.Log, context.Cancellation);
        var excluded = Excluded(prepared, options.Exclude);
        var statistics = new Dictionary<string, object>
        {
            ["calibration_method"] = spec.Method.ToString(),
            ["calibrated_tensors"] = ranges.Count,
            ["fused_nodes"] = fusedNodes,
            ["excluded"] = excluded.Count,
        };

        var rounded = options.Algorithm == WeightOnlyAlgorithm.Gptq ? StaticGptq.Quantize(prepared, options, context) : null;
        statistics["algorithm"] = options.Algorithm.ToString().ToLowerInvariant();
        using var workspace = new CandidateWorkspace(prepared, data, spec);
        var keepFloat = new HashSet<string>(excluded, StringComparer.Ordinal);
        var wide = new HashSet<string>(StringComparer.Ordinal);
        if (options.Fallback is { } fallback)
        {
            Fallback(prepared, ranges, tapMeans, rounded, options, fallback, keepFloat, wide, qdqDomain, workspace, statistics, context);
        }

        var qdq = QdqBuilder.Build(prepared, ranges, tapMeans, options, keepFloat, qdqDomain, wide, rounded);
        if (qdq.QuantizedNodes.Count == 0)
        {
            var recurrentOnly = RecurrentQuantizer.Quantize(prepared.MainGraph, options, new NodeExclusions(options.Exclude), context);
            recurrentOnly.AddTo(statistics);
            if (recurrentOnly.Quantized > 0)
            {
                return new PassResult(prepared, statistics);
            }

            context.Log.Report(Diagnostic.Warning(ErrorCodes.NothingQuantized,
                "Static quantization found nothing to quantize (no Conv, MatMul or Gemm on float weights with calibrated inputs, no LSTM, GRU or RNN on constant weights, or all excluded); the model is unchanged.", model.Path));
            return new PassResult(model, statistics);
        }

        var integerOpsPossible = qdqDomain.Length == 0 && !sixteenBit && wide.Count == 0;
        var chosen = options.Format switch
        {
            QuantizationFormat.Qdq => qdq.Model,
            QuantizationFormat.QOperator when integerOpsPossible => QOperatorConverter.Convert(qdq.Model),
            QuantizationFormat.QOperator => WarnQdqOnly(qdq.Model, wide.Count > 0, context, model.Path),
            _ => ChooseFastest(qdq.Model, integerOpsPossible, workspace, statistics, context, model.Path),
        };
        if (chosen is null)
        {
            context.Log.Report(Diagnostic.Warning(ErrorCodes.StaticFormatNotUsed, "ONNX Runtime loads none of the quantized candidates; the model is left float.", model.Path));
            return new PassResult(model, statistics);
        }

        // Auto has run its candidates already; an explicit format is loaded once here. An integer-operator model this
        // ONNX Runtime lacks a kernel for falls back to QDQ; a QDQ model it refuses (an op whose opset could not be
        // raised, fused at the old opset) is worse than none, and the model stays float.
        if (options.Format != QuantizationFormat.Auto && !Loads(chosen, workspace, out var reason))
        {
            if (!ReferenceEquals(chosen, qdq.Model) && Loads(qdq.Model, workspace, out _))
            {
                context.Log.Report(Diagnostic.Warning(ErrorCodes.StaticFormatNotUsed, $"ONNX Runtime cannot load the integer-operator model ({reason}); it is written as QDQ instead.", model.Path));
                chosen = qdq.Model;
            }
            else
            {
                context.Log.Report(Diagnostic.Warning(ErrorCodes.StaticFormatNotUsed, $"ONNX Runtime cannot load the quantized model ({reason}); the model is left float.", model.Path));
                return new PassResult(model, statistics);
            }
        }

        // Recurrent ops are float to QDQ (no QDQ form of them fuses in ONNX Runtime): they read and write float values
        // and get 8-bit storage of W and R once the format is settled, so no format's conversion sees those DequantizeLinears.
        RecurrentQuantizer.Quantize(chosen.MainGraph, options, new NodeExclusions(options.Exclude), context).AddTo(statistics);
        statistics["quantized_nodes"] = qdq.QuantizedNodes.Count;
        statistics["nodes"] = chosen.Proto.Graph.Node.Count;
        statistics["qdq_domain"] = qdqDomain.Length == 0 ? "ai.onnx" : qdqDomain;
        return new PassResult(chosen, statistics);
    }

    /// <summary>Whether ONNX Runtime loads the model (with its graph optimizations, where QDQ fusion happens).</summary>
    private static bool Loads(OnnxModel candidate, CandidateWorkspace workspace, out string reason)
    {
        try
        {
            using var runner = new Evaluation.ModelRunner(workspace.Save(candidate));
            reason = "";
            return true;
        }
        catch (CompressionException e) when (e.Code == ErrorCodes.RuntimeRejectedModel)
        {
            reason = e.Diagnostic.Message;
            return false;
        }
    }

    private static OnnxModel WarnQdqOnly(OnnxModel qdq, bool widened, PassContext context, string? path)
    {
        context.Log.Report(Diagnostic.Warning(ErrorCodes.StaticFormatNotUsed, widened
            ? "Fallback gave some layers 16-bit activations, which integer operators cannot hold; the model is written as QDQ instead."
            : "Integer operators need the model's opset raised to 13 and 8-bit activations; this model cannot be, so it is written as QDQ instead.", path));
        return qdq;
    }

    /// <summary>Measures float, QDQ and (when possible) QOperator here and keeps the fastest faithful quantized one; null when ONNX Runtime loads none.</summary>
    private static OnnxModel? ChooseFastest(OnnxModel qdq, bool integerOpsPossible, CandidateWorkspace workspace, Dictionary<string, object> statistics,
        PassContext context, string? path)
    {
        // In order of preference: integer operators make the smaller file. A candidate ONNX Runtime refuses is dropped
        // with a warning; only when none loads is that an answer (the model stays float).
        var formats = new List<(string Format, OnnxModel Model)>();
        foreach (var (format, candidate) in integerOpsPossible ? [("qoperator", QOperatorConverter.Convert(qdq)), ("qdq", qdq)] : new[] { ("qdq", qdq) })
        {
            if (Loads(candidate, workspace, out var reason))
            {
                formats.Add((format, candidate));
            }
            else
            {
                context.Log.Report(Diagnostic.Warning(ErrorCodes.StaticFormatNotUsed, $"ONNX Runtime cannot load the {format} candidate ({reason}); it is not used.", path));
            }
        }

        if (formats.Count == 0)
        {
            return null;
        }

        var files = formats.Select(f => workspace.Save(f.Model)).ToList();
        var latencies = workspace.InterleavedLatency([workspace.ReferencePath, .. files], context.Cancellation);
        var floatLatency = latencies[0];
        var candidates = new List<(string Format, OnnxModel Model, double Ms, FidelityMetrics Fidelity)>();
        for (var i = 0; i < formats.Count; i++)
        {
            candidates.Add((formats[i].Format, formats[i].Model, latencies[i + 1], workspace.Fidelity(files[i], context.Cancellation)));
        }

        statistics["latency_ms"] = candidates.ToDictionary(c => c.Format, c => (object)Math.Round(c.Ms, 4)).Append(new("float32", Math.Round(floatLatency, 4))).ToDictionary();
        statistics["cosine"] = candidates.ToDictionary(c => c.Format, c => (object)Math.Round(c.Fidelity.Cosine, 6));
        var faithful = candidates.Where(c => c.Fidelity.Cosine >= AutoCosineTarget).ToList();
        var best = faithful.Count > 0 ? faithful[0] : candidates.MaxBy(c => c.Fidelity.Cosine);
        foreach (var other in faithful.Skip(1))
        {
            if (other.Ms < best.Ms * (1 - AutoMargin))
            {
                best = other;
            }
        }

        if (faithful.Count == 0)
        {
            context.Log.Report(Diagnostic.Warning(ErrorCodes.StaticFormatNotUsed, string.Create(CultureInfo.InvariantCulture,
                $"No static format keeps cosine >= {AutoCosineTarget} to the float model on the calibration data; kept {best.Format} (cosine {best.Fidelity.Cosine:F4}).")));
        }

        if (best.Ms >= floatLatency)
        {
            context.Log.Report(Diagnostic.Warning(ErrorCodes.StaticFormatNotUsed, string.Create(CultureInfo.InvariantCulture,
                $"On this machine no quantized format is faster than float32 at batch 1 on one thread ({best.Format} {best.Ms:F3} ms, float32 {floatLatency:F3} ms); kept {best.Format} for its size."), path));
        }

        statistics["format"] = best.Format;
        return best.Model;
    }

    /// <summary>
    /// Per-layer sensitivity over the weighted and activation nodes QDQ would quantize (layout ops follow their input);
    /// with 8-bit activations layers may first get 16-bit ones (<see cref="FallbackSpec.Widen"/>).
    /// </summary>
    private static void Fallback(OnnxModel prepared, IReadOnlyDictionary<string, (float, float)> ranges, ConvTapMeans tapMeans,
        IReadOnlyDictionary<string, QuantizedWeight>? rounded, QuantizeOptions options, FallbackSpec fallback,
        HashSet<string> keepFloat, HashSet<string> wide, string qdqDomain, CandidateWorkspace workspace, Dictionary<string, object> statistics, PassContext context)
    {
        var layers = QdqBuilder.Build(prepared, ranges, tapMeans, options, keepFloat, qdqDomain, roundedWeights: rounded).QuantizedNodes
            .Where(n => QuantizableOps.Role(prepared.MainGraph.Nodes.First(node => node.Name == n)) != OpRole.Propagating).ToList();
        var eightBit = options.ActivationType is QuantizedType.U8 or QuantizedType.S8;
        LayerFallback.Apply(layers, (floatNodes, wideNodes) => QdqBuilder.Build(prepared, ranges, tapMeans, options, floatNodes, qdqDomain, wideNodes, rounded).Model,
            keepFloat, wide, fallback, workspace, statistics, context, prepared.Path, canWiden: eightBit);
    }

    /// <summary>Nodes matching an exclude entry: a node name with * and ? wildcards, or an op type.</summary>
    private static HashSet<string> Excluded(OnnxModel model, IReadOnlyList<string> patterns)
    {
        var excluded = new HashSet<string>(StringComparer.Ordinal);
        foreach (var node in model.MainGraph.Nodes)
        {
            foreach (var pattern in patterns)
            {
                if (node.OpType == pattern || FileSystemName.MatchesSimpleExpression(pattern, node.Name, ignoreCase: false))
                {
                    excluded.Add(node.Name);
                    break;
                }
            }
        }

        return excluded;
    }

    private static void EnsureImport(OnnxModel model, string domain, long version)
    {
        if (model.OpsetVersion(domain) is null)
        {
            model.Proto.OpsetImport.Add(new OperatorSetIdProto { Domain = domain, Version = version });
        }
    }
}
