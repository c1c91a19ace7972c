using System.Globalization;
using Compression.Core.Diagnostics;
using Compression.Core.Evaluation;
using Compression.Core.Quantization;
using Compression.Core.Reports;

namespace Compression.Core.Pipeline;

/// <summary>
/// A warning when a classifier's result keeps too few of the original's top-1 decisions on the check data: which
/// layers the steps' own figures say cost most, and the option of each step that would help. Only where the data has
/// labels: the argmax of an embedding or a feature map means nothing, and its agreement would raise false alarms.
/// </summary>
internal static class FidelityAdvice
{
    public const double AgreementFloor = 0.95;

    /// <summary>What to try, by step, given the step's options and the layers that cost most (empty when unknown).</summary>
    private static readonly Dictionary<string, Func<IReadOnlyDictionary<string, object?>, IReadOnlyList<string>, string>> Hints = new(StringComparer.Ordinal)
    {
        ["prune"] = (options, worst) => (options.GetValueOrDefault("method") as string) == "structured"
            ? $"prune less (structured: {{ channels: ..., neurons: ... }}) or keep the costly groups whole (layers: {{ {Example(worst)}: {{ channels: 0 }} }})"
            : $"prune less (a lower sparsity), give calibration data so each layer's share follows its sensitivity, or keep the costly layers dense (layers: {{ {Example(worst)}: {{ sparsity: 0 }} }})",
        ["quantize"] = (options, worst) => (options.GetValueOrDefault("mode") as string) switch
        {
            "weight_only" => $"8 bits for the costly layers (layers: {{ {Example(worst)}: {{ bits: 8 }} }}) or fallback: {{ metric: agreement, target: 99 }}",
            "float16" or "bfloat16" => "storage_only: true, or op_block_list with the op types that lose precision",
            _ => "fallback: { metric: agreement, target: 99 }, which measures every layer and keeps the costly ones in 16-bit or float",
        },
    };

    public static Diagnostic? For(EvaluationReport evaluation, IReadOnlyList<StepSummary> steps, string modelPath)
    {
        var classScores = evaluation.Fidelity.Where(f => f.Agreement is not null).ToList();
        if (evaluation.Candidate?.Task.Top1 is null || classScores.Count == 0)
        {
            return null;
        }

        var lowest = classScores.MinBy(f => f.Agreement)!;
        if (lowest.Agreement >= AgreementFloor)
        {
            return null;
        }

        var worst = steps.SelectMany(CostlyLayers).Take(3).ToList();
        var layers = worst.Count == 0 ? "" : $" The layers that cost most by the steps' own figures: {string.Join(", ", worst)}.";
        var hints = steps.Where(s => Hints.ContainsKey(s.Name)).Select(s => $"{s.Name}: {Hints[s.Name](s.Options, worst.Select(w => w.Split(' ')[0]).ToList())}").Distinct().ToList();
        var message = string.Create(CultureInfo.InvariantCulture,
            $"The result keeps only {lowest.Agreement:0.0 %} of the original's top-1 decisions ({lowest.Output}) on '{evaluation.DataSet}', under {AgreementFloor:0 %}.{layers}")
            + (hints.Count == 0 ? "" : $" Try {string.Join("; ", hints)}.");
        return Diagnostic.Warning(ErrorCodes.PoorFidelity, message, modelPath);
    }

    /// <summary>A step's layers by cost: layers by their relative output error on calibration data, or, after fallback, by how little they keep alone (its sensitivity).</summary>
    private static IEnumerable<string> CostlyLayers(StepSummary step)
    {
        if (step.Result is QuantizeResult { Fallback: { } fallback })
        {
            return fallback.Sensitivity.OrderBy(s => s.Value)
                .Select(s => string.Create(CultureInfo.InvariantCulture, $"{s.Key} (alone: {s.Value:0.###})"));
        }

        return step.Result.Layers.Where(l => l.Error is not null).OrderByDescending(l => l.Error)
            .Select(l => string.Create(CultureInfo.InvariantCulture, $"{l.Node} (relative output error {l.Error:0.###})"));
    }

    private static string Example(IReadOnlyList<string> worst) => worst.Count > 0 ? worst[0] : "<layer>";
}
