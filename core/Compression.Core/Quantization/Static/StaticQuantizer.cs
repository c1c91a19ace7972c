using System.Globalization;
using System.IO.Enumeration;
using Compression.Core.Diagnostics;
using Compression.Core.Evaluation.Metrics;
using Compression.Core.Layers;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Inspection;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Options;
using Compression.Core.Passes;
using Compression.Core.Passes.Graph;
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
        var result = new StaticQuantizeResult(spec.Method.ToString(), ranges.Count, fusedNodes, excluded.Count, options.Algorithm.ToString().ToLowerInvariant());
        var rounded = options.Algorithm == WeightOnlyAlgorithm.Gptq ? StaticGptq.Quantize(prepared, options, context) : null;
        using var workspace = new CandidateWorkspace(prepared, data, spec);
        var keepFloat = new HashSet<string>(excluded, StringComparer.Ordinal);
        var wide = new HashSet<string>(StringComparer.Ordinal);
        if (options.Fallback is { } fallback)
        {
            result = result with { Fallback = Fallback(prepared, ranges, tapMeans, rounded, options, fallback, keepFloat, wide, qdqDomain, workspace, context) };
        }

        var qdq = QdqBuilder.Build(prepared, ranges, tapMeans, options, keepFloat, qdqDomain, wide, rounded);
        if (qdq.QuantizedNodes.Count == 0)
        {
            var recurrentOnly = QuantizeRecurrent(prepared, options, context);
            result = result with { Recurrent = recurrentOnly.Figures };
            if (recurrentOnly.Quantized > 0)
            {
                return new PassResult(prepared, result);
            }

            context.Log.Report(Diagnostic.Warning(ErrorCodes.NothingQuantized,
                "Static quantization found nothing to quantize (no Conv, MatMul or Gemm on float weights with calibrated inputs, no LSTM, GRU or RNN on constant weights, or all excluded); the model is unchanged.", model.Path));
            return new PassResult(model, result);
        }

        var integerOpsPossible = qdqDomain.Length == 0 && !sixteenBit && wide.Count == 0;
        FormatChoice? choice = null;
        var chosen = options.Format switch
        {
            QuantizationFormat.Qdq => qdq.Model,
            QuantizationFormat.QOperator when integerOpsPossible => QOperatorConverter.Convert(qdq.Model),
            QuantizationFormat.QOperator => WarnQdqOnly(qdq.Model, wide.Count > 0, context, model.Path),
            _ => ChooseFastest(qdq, integerOpsPossible, floatNodes => QdqBuilder.Build(prepared, ranges, tapMeans, options,
                new HashSet<string>([.. keepFloat, .. floatNodes], StringComparer.Ordinal), qdqDomain, wide, rounded).Model, workspace, out choice, context, model.Path),
        };
        if (chosen is null)
        {
            context.Log.Report(Diagnostic.Warning(ErrorCodes.StaticFormatNotUsed, "ONNX Runtime loads none of the quantized candidates; the model is left float.", model.Path));
            return new PassResult(model, result);
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
                return new PassResult(model, result);
            }
        }

        // Recurrent ops are float to QDQ (no QDQ form of them fuses in ONNX Runtime): they read and write float values.
        // Once the format is settled an LSTM becomes DynamicQuantizeLSTM (the one integer recurrent kernel: it quantizes
        // its input as it runs) and GRU and RNN get 8-bit storage of W and R, so no format's conversion sees them.
        return new PassResult(chosen, result with
        {
            Recurrent = QuantizeRecurrent(chosen, options, context).Figures,
            QuantizedNodes = qdq.QuantizedNodes.Count,
            Nodes = chosen.Proto.Graph.Node.Count,
            QdqDomain = qdqDomain.Length == 0 ? "ai.onnx" : qdqDomain,
            FormatChoice = choice,
            Layers = Rows(prepared, qdq.QuantizedNodes, keepFloat, wide, options),
        });
    }

    private static RecurrentQuantizer QuantizeRecurrent(OnnxModel model, QuantizeOptions options, PassContext context)
    {
        var graph = model.MainGraph; // one instance: each keeps its own node indexes
        var lstm = new IntegerLstm(graph, options, GraphScopes.AllValueNames(model));
        var result = RecurrentQuantizer.Quantize(graph, options, new NodeExclusions(options.Exclude), context,
            new Dictionary<string, (string, Func<RecurrentWeights, long>)> { ["LSTM"] = (IntegerLstm.Form, lstm.Rewrite) });
        lstm.Finish();
        return result;
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

    /// <summary>
    /// Measures float, QDQ and (when possible) QOperator here and keeps the fastest faithful quantized one; null when
    /// ONNX Runtime loads none. When that one runs slower than float32, the smallest layers may be kept float
    /// (<see cref="KeepSmallLayersFloat"/>); <paramref name="build"/> makes the QDQ model with more nodes float.
    /// </summary>
    private static OnnxModel? ChooseFastest(QdqModel quantized, bool integerOpsPossible, Func<IReadOnlySet<string>, OnnxModel> build,
        CandidateWorkspace workspace, out FormatChoice? choice, PassContext context, string? path)
    {
        choice = null;
        var qdq = quantized.Model;
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

        var latencyMs = candidates.ToDictionary(c => c.Format, c => Math.Round(c.Ms, 4));
        latencyMs["float32"] = Math.Round(floatLatency, 4);
        var cosine = candidates.ToDictionary(c => c.Format, c => Math.Round(c.Fidelity.Cosine, 6));
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

        choice = new FormatChoice(best.Format, latencyMs, cosine);
        if (best.Ms < floatLatency)
        {
            return best.Model;
        }

        var convert = best.Format == "qoperator" ? QOperatorConverter.Convert : (Func<OnnxModel, OnnxModel>)(m => m);
        if (KeepSmallLayersFloat(qdq, quantized.QuantizedNodes, best.Fidelity.Cosine, m => convert(build(m)), workspace, context.Cancellation) is { } faster)
        {
            var share = faster.FloatWeights * 100.0;
            latencyMs["small_layers_float"] = Math.Round(faster.Ms, 4);
            choice = choice with { LatencyFloatLayers = faster.FloatLayers };
            context.Log.Report(Diagnostic.Warning(ErrorCodes.StaticFormatNotUsed, string.Create(CultureInfo.InvariantCulture,
                $"On this machine the quantized model ran slower than float32 at batch 1 on one thread ({best.Format} {best.Ms:F3} ms, float32 {faster.FloatMs:F3} ms); its {faster.FloatLayers.Count} smallest layer(s), {share:0.#} % of the weights, are kept float and it runs in {faster.Ms:F3} ms: {string.Join(", ", faster.FloatLayers)}. The choice is measured here: to get the same model everywhere, list them in exclude or set the format."), path));
            return faster.Model;
        }

        context.Log.Report(Diagnostic.Warning(ErrorCodes.StaticFormatNotUsed, string.Create(CultureInfo.InvariantCulture,
            $"On this machine no quantized format is faster than float32 at batch 1 on one thread ({best.Format} {best.Ms:F3} ms, float32 {floatLatency:F3} ms), nor with up to half of its weights kept float; kept {best.Format} for its size."), path));
        return best.Model;
    }

    /// <summary>How far below the fully quantized model's cosine a model with layers kept float may measure (rounding of the other layers' ranges).</summary>
    private const double CosineSlack = 1e-3;

    /// <summary>Shares of the quantized weights, smallest layers first, that format auto tries keeping float.</summary>
    private static readonly double[] FloatShares = [0.02, 0.05, 0.1, 0.2, 0.35, 0.5];

    /// <summary>
    /// On a small model ONNX Runtime's integer kernels gain little at batch 1 and every QuantizeLinear/DequantizeLinear
    /// at the edge of an integer region costs a node, so the quantized model can run slower than float. Keeps the
    /// smallest weighted layers float (they shrink the file least), in growing shares of the weights, measures every
    /// candidate beside float in one interleaved run and returns the one keeping the fewest float that beats float
    /// and is as faithful as the fully quantized model (<paramref name="cosine"/>); null when none does.
    /// </summary>
    private static (OnnxModel Model, double Ms, double FloatMs, IReadOnlyList<string> FloatLayers, double FloatWeights)? KeepSmallLayersFloat(
        OnnxModel qdq, IReadOnlyList<string> quantizedNodes, double cosine, Func<IReadOnlySet<string>, OnnxModel> build, CandidateWorkspace workspace, CancellationToken cancellation)
    {
        var graph = qdq.MainGraph;
        var quantized = quantizedNodes.ToHashSet(StringComparer.Ordinal);
        var layers = new List<(string Name, long Weights)>();
        foreach (var node in graph.Nodes)
        {
            // In the QDQ model a quantized layer reads its weight through a DequantizeLinear of an integer initializer.
            if (quantized.Contains(node.Name) && QuantizableOps.Role(node) == OpRole.Weighted && node.Input.Count > 1
                && graph.Producer(node.Input[1]) is { OpType: "DequantizeLinear" } dequantize && graph.Initializer(dequantize.Input[0]) is { } weight)
            {
                layers.Add((node.Name, Onnx.Tensors.TensorCodec.ElementCount(weight)));
            }
        }

        layers.Sort((a, b) => a.Weights != b.Weights ? a.Weights.CompareTo(b.Weights) : string.CompareOrdinal(a.Name, b.Name));
        var total = layers.Sum(l => (double)l.Weights);
        var prefixes = new List<int>();
        foreach (var share in FloatShares)
        {
            var (count, sum) = (0, 0L);
            while (count < layers.Count - 1 && sum + layers[count].Weights <= share * total)
            {
                sum += layers[count++].Weights;
            }

            if (count > 0 && (prefixes.Count == 0 || prefixes[^1] != count))
            {
                prefixes.Add(count);
            }
        }

        if (prefixes.Count == 0)
        {
            return null;
        }

        var candidates = new List<OnnxModel>();
        foreach (var count in prefixes.ToList())
        {
            var candidate = build(layers.Take(count).Select(l => l.Name).ToHashSet(StringComparer.Ordinal));
            if (Loads(candidate, workspace, out _))
            {
                candidates.Add(candidate);
            }
            else
            {
                prefixes.Remove(count);
            }
        }

        if (candidates.Count == 0)
        {
            return null;
        }

        var files = candidates.Select(workspace.Save).ToList();
        var latencies = workspace.InterleavedLatency([workspace.ReferencePath, .. files], cancellation);
        for (var i = 0; i < candidates.Count; i++)
        {
            // More float layers can only bring the model closer to float: a candidate less faithful than the one it
            // came from is wrong, and is never taken for its speed.
            if (latencies[i + 1] < latencies[0] && workspace.Fidelity(files[i], cancellation).Cosine >= Math.Min(AutoCosineTarget, cosine) - CosineSlack)
            {
                var floatLayers = layers.Take(prefixes[i]).Select(l => l.Name).ToList();
                return (candidates[i], latencies[i + 1], latencies[0], floatLayers, layers.Take(prefixes[i]).Sum(l => (double)l.Weights) / total);
            }
        }

        return null;
    }

    /// <summary>
    /// Per-layer sensitivity over the weighted and activation nodes QDQ would quantize (layout ops follow their input);
    /// with 8-bit activations layers may first get 16-bit ones (<see cref="FallbackSpec.Widen"/>).
    /// </summary>
    private static FallbackFigures Fallback(OnnxModel prepared, IReadOnlyDictionary<string, (float, float)> ranges, ConvTapMeans tapMeans,
        IReadOnlyDictionary<string, QuantizedWeight>? rounded, QuantizeOptions options, FallbackSpec fallback,
        HashSet<string> keepFloat, HashSet<string> wide, string qdqDomain, CandidateWorkspace workspace, PassContext context)
    {
        var layers = QdqBuilder.Build(prepared, ranges, tapMeans, options, keepFloat, qdqDomain, roundedWeights: rounded).QuantizedNodes
            .Where(n => QuantizableOps.Role(prepared.MainGraph.Nodes.First(node => node.Name == n)) != OpRole.Propagating).ToList();
        var eightBit = options.ActivationType is QuantizedType.U8 or QuantizedType.S8;
        return LayerFallback.Apply(layers, (floatNodes, wideNodes) => QdqBuilder.Build(prepared, ranges, tapMeans, options, floatNodes, qdqDomain, wideNodes, rounded).Model,
            keepFloat, wide, fallback, workspace, context, prepared.Path, canWiden: eightBit);
    }

    /// <summary>
    /// A row per quantized node with a constant weight: its integer types, and its weight's bytes in float and in the
    /// weight type (the scales and zero points aside).
    /// </summary>
    private static List<LayerRow> Rows(OnnxModel prepared, IReadOnlyList<string> quantized, IReadOnlySet<string> keepFloat, IReadOnlySet<string> wide, QuantizeOptions options)
    {
        var graph = prepared.MainGraph;
        var byName = graph.Nodes.Where(n => n.Name.Length > 0).GroupBy(n => n.Name, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        var weightBits = options.WeightType is QuantizedType.U16 or QuantizedType.S16 ? 16 : 8;
        var rows = new List<LayerRow>();
        foreach (var name in quantized)
        {
            if (keepFloat.Contains(name) || !byName.TryGetValue(name, out var node) || QuantizableOps.Role(node) != OpRole.Weighted
                || node.Input.Count < 2 || ConstantSources.Find(graph, node.Input[1]) is not { } weight)
            {
                continue;
            }

            var activations = wide.Contains(name) ? "16-bit" : OptionNames.EnumName(options.ActivationType);
            rows.Add(new LayerRow(name, node.OpType, $"{OptionNames.EnumName(options.WeightType)} weights, {activations} activations")
            {
                Weight = weight.Name,
                Shape = weight.Dims.ToArray(),
                BytesBefore = TensorCodec.StoredByteLength(weight),
                BytesAfter = TensorCodec.ElementCount(weight) * weightBits / 8,
            });
        }

        return rows;
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
