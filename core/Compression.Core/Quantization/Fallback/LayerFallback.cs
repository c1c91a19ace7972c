using System.Globalization;
using Compression.Core.Diagnostics;
using Compression.Core.Evaluation.Metrics;
using Compression.Core.Onnx;
using Compression.Core.Passes;

namespace Compression.Core.Quantization.Fallback;

/// <summary>
/// Per-layer sensitivity and fallback, the same for every mode: each layer is quantized alone (every other layer
/// float) and measured against the float model on the calibration samples; the sensitivity of every layer goes to the
/// report, worst first; then the most sensitive layers return to float, one at a time, until the whole model reaches
/// the target or <see cref="FallbackSpec.MaxLayers"/> layers are float. The mode supplies the layers and a function
/// that builds the model with a given set of nodes kept float. Static mode can also widen layers: before any layer
/// returns to float, the most sensitive 1, 2, 4, ... layers (all of them last) get 16-bit activations, int8 weights
/// kept, until the target holds; the float stage then starts from the widest set tried, its widened layers ranked by their
/// sensitivity alone with 16-bit activations.
/// </summary>
internal static class LayerFallback
{
    /// <summary>
    /// <paramref name="layers"/> are the nodes the mode quantizes, by name; <paramref name="build"/> gives the quantized model with
    /// the given nodes kept float (null when that quantizes nothing); <paramref name="keepFloat"/> holds the nodes float
    /// already (excluded) and receives the layers returned to float.
    /// </summary>
    public static FallbackFigures Apply(IReadOnlyList<string> layers, Func<IReadOnlySet<string>, OnnxModel?> build, HashSet<string> keepFloat, FallbackSpec fallback,
        CandidateWorkspace workspace, PassContext context, string? path) =>
        Apply(layers, (floatNodes, _) => build(floatNodes), keepFloat, [], fallback, workspace, context, path);

    /// <summary>
    /// As above, for a mode that can also widen layers: <paramref name="build"/> takes the nodes kept float and the nodes
    /// with 16-bit activations; <paramref name="wide"/> receives the widened layers (left empty unless
    /// <see cref="FallbackSpec.Widen"/>).
    /// </summary>
    public static FallbackFigures Apply(IReadOnlyList<string> layers, Func<IReadOnlySet<string>, IReadOnlySet<string>, OnnxModel?> build, HashSet<string> keepFloat,
        HashSet<string> wide, FallbackSpec fallback, CandidateWorkspace workspace, PassContext context, string? path, bool canWiden = false)
    {
        double Score(IReadOnlyList<FidelityMetrics> outputs) => fallback.Metric == FallbackMetric.Sqnr
            ? outputs.Min(o => o.SqnrDb)
            // Agreement is a figure of class scores only: the lowest over those outputs; an embedding model has none.
            : (outputs.Where(o => o.Agreement is not null).Min(o => o.Agreement) ?? throw new CompressionException(Diagnostic.Error(ErrorCodes.FallbackMetricNotApplicable,
                $"Fallback's metric 'agreement' is the share of top-1 decisions kept, and no output of this model is class scores ({string.Join(", ", outputs.Select(o => o.Output))}); use metric: sqnr.", path))) * 100;
        double? Measure(IReadOnlySet<string> floatNodes, IReadOnlySet<string> wideNodes) =>
            build(floatNodes, wideNodes) is { } candidate ? Score(workspace.Outputs(workspace.Save(candidate), context.Cancellation)) : null;

        // Each layer quantized alone, every other one float; with 16-bit activations when widened.
        Dictionary<string, double> Alone(IReadOnlyList<string> measuredLayers, bool widened, string stage)
        {
            var values = new Dictionary<string, double>(StringComparer.Ordinal);
            for (var i = 0; i < measuredLayers.Count; i++)
            {
                var layer = measuredLayers[i];
                context.Cancellation.ThrowIfCancellationRequested();
                context.Log.Progress(stage, layer, (double)i / measuredLayers.Count);
                var others = new HashSet<string>(keepFloat, StringComparer.Ordinal);
                others.UnionWith(layers.Where(l => l != layer));
                if (Measure(others, widened ? new HashSet<string>(StringComparer.Ordinal) { layer } : []) is { } alone)
                {
                    values[layer] = alone;
                }
            }

            return values;
        }

        static Dictionary<string, double> Shown(Dictionary<string, double> values) => values.OrderBy(s => s.Value).ToDictionary(s => s.Key, s => Math.Round(s.Value, 3));

        var sensitivity = Alone(layers, widened: false, "Layer sensitivity");
        var figures = new FallbackFigures(Shown(sensitivity), [], 0);
        var value = Measure(keepFloat, wide) ?? double.PositiveInfinity;
        var ranked = sensitivity.OrderBy(s => s.Value).Select(s => s.Key).ToList();
        if (canWiden && fallback.Widen)
        {
            value = Widen(ranked, value, wide, fallback.Target, () => Measure(keepFloat, wide) ?? double.PositiveInfinity, context);
            figures = figures with { WideLayers = wide.Count, WideValue = Math.Round(value, 3) };
            if (value < fallback.Target && wide.Count > 0 && fallback.MaxLayers > 0)
            {
                // A widened layer loses what its int8 weights and 16-bit activations lose, not what it lost at 8 bits
                // (the stem's activations cost most at 8 bits, some late weights at 16): it is ranked by that for float.
                var wideSensitivity = Alone(layers.Where(wide.Contains).ToList(), widened: true, "Layer sensitivity, 16-bit activations");
                foreach (var (layer, alone) in wideSensitivity)
                {
                    sensitivity[layer] = alone;
                }

                figures = figures with { WideSensitivity = Shown(wideSensitivity) };

                ranked = sensitivity.OrderBy(s => s.Value).Select(s => s.Key).ToList();
            }
        }

        var returned = new List<string>();
        foreach (var layer in ranked)
        {
            if (value >= fallback.Target || returned.Count >= fallback.MaxLayers)
            {
                break;
            }

            keepFloat.Add(layer);
            wide.Remove(layer);
            returned.Add(layer);
            value = Measure(keepFloat, wide) ?? double.PositiveInfinity;
        }

        figures = figures with { FallbackLayers = returned, FallbackValue = Math.Round(value, 3) };
        if (returned.Count > 0 || value < fallback.Target)
        {
            var widened = wide.Count > 0 ? $"{wide.Count} layer(s) with 16-bit activations, " : "";
            context.Log.Report(Diagnostic.Warning(ErrorCodes.QuantizationFallback, string.Create(CultureInfo.InvariantCulture,
                $"Fallback kept {widened}{returned.Count} layer(s) in float ({(returned.Count == 0 ? "none" : string.Join(", ", returned))}); {fallback.Metric} {value:F3}, target {fallback.Target}{(value < fallback.Target ? ": not reached" : "")}."),
                path));
        }

        return figures;
    }

    /// <summary>
    /// Widens the 1, 2, 4, ... most sensitive layers (all of them last) until the target holds; returns the value
    /// reached. A widening that does not beat the value before it is undone, so a model widening cannot help stays int8.
    /// </summary>
    private static double Widen(IReadOnlyList<string> ranked, double value, HashSet<string> wide, double target, Func<double> measure, PassContext context)
    {
        var best = (Count: 0, Value: value);
        for (var count = 1; value < target && best.Count < ranked.Count; count = Math.Min(count * 2, ranked.Count))
        {
            context.Cancellation.ThrowIfCancellationRequested();
            context.Log.Progress("16-bit activations", $"{count} of {ranked.Count} layers", (double)count / ranked.Count);
            wide.Clear();
            wide.UnionWith(ranked.Take(count));
            value = measure();
            if (value > best.Value)
            {
                best = (count, value);
            }

            if (count == ranked.Count)
            {
                break;
            }
        }

        wide.Clear();
        wide.UnionWith(ranked.Take(best.Count));
        return best.Value;
    }
}
