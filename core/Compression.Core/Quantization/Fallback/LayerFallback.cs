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
/// that builds the model with a given set of nodes kept float.
/// </summary>
internal static class LayerFallback
{
    /// <summary>
    /// <paramref name="layers"/> are the nodes the mode quantizes, by name; <paramref name="build"/> gives the quantized model with
    /// the given nodes kept float (null when that quantizes nothing); <paramref name="keepFloat"/> holds the nodes float
    /// already (excluded) and receives the layers returned to float.
    /// </summary>
    public static void Apply(IReadOnlyList<string> layers, Func<IReadOnlySet<string>, OnnxModel?> build, HashSet<string> keepFloat, FallbackSpec fallback,
        CandidateWorkspace workspace, Dictionary<string, object> statistics, PassContext context, string? path)
    {
        double Score(FidelityMetrics f) => fallback.Metric == FallbackMetric.Sqnr ? f.SqnrDb : f.Agreement * 100;
        double? Measure(IReadOnlySet<string> floatNodes) =>
            build(floatNodes) is { } candidate ? Score(workspace.Fidelity(workspace.Save(candidate), context.Cancellation)) : null;

        var sensitivity = new Dictionary<string, double>(StringComparer.Ordinal);
        var measured = 0;
        foreach (var layer in layers)
        {
            context.Cancellation.ThrowIfCancellationRequested();
            context.Log.Progress("Layer sensitivity", layer, (double)measured++ / layers.Count);
            var others = new HashSet<string>(keepFloat, StringComparer.Ordinal);
            others.UnionWith(layers.Where(l => l != layer));
            if (Measure(others) is { } alone)
            {
                sensitivity[layer] = alone;
            }
        }

        statistics["sensitivity"] = sensitivity.OrderBy(s => s.Value).ToDictionary(s => s.Key, s => (object)Math.Round(s.Value, 3));
        var value = Measure(keepFloat) ?? double.PositiveInfinity;
        var returned = new List<string>();
        foreach (var (layer, _) in sensitivity.OrderBy(s => s.Value))
        {
            if (value >= fallback.Target || returned.Count >= fallback.MaxLayers)
            {
                break;
            }

            keepFloat.Add(layer);
            returned.Add(layer);
            value = Measure(keepFloat) ?? double.PositiveInfinity;
        }

        statistics["fallback_layers"] = returned;
        statistics["fallback_value"] = Math.Round(value, 3);
        if (returned.Count > 0 || value < fallback.Target)
        {
            context.Log.Report(Diagnostic.Warning(ErrorCodes.QuantizationFallback, string.Create(CultureInfo.InvariantCulture,
                $"Fallback kept {returned.Count} layer(s) in float ({(returned.Count == 0 ? "none" : string.Join(", ", returned))}); {fallback.Metric} {value:F3}, target {fallback.Target}{(value < fallback.Target ? ": not reached" : "")}."),
                path));
        }
    }
}
