using System.Globalization;
using Compression.Core.Onnx.Inspection;
using Compression.Core.Options;

namespace Compression.Core.Evaluation;

/// <summary>The <c>gates</c> section: every limit is optional.</summary>
public sealed record GateSpec
{
    [Option("Largest allowed drop in top-1 accuracy, as a fraction (0.005 = half a point).", Minimum = 0, Maximum = 1)]
    public double? AccuracyDrop { get; init; }

    [Option("Largest allowed drop in Spearman correlation (x100 points, e.g. 0.5).", Minimum = 0)]
    public double? SpearmanDrop { get; init; }

    [Option("Smallest allowed top-1 agreement with the original, per output (0.99 = 99 %).", Minimum = 0, Maximum = 1)]
    public double? MinAgreement { get; init; }

    [Option("Smallest allowed cosine similarity to the original's outputs.", Minimum = -1, Maximum = 1)]
    public double? MinCosine { get; init; }

    [Option("Smallest allowed SQNR in dB.")]
    public double? MinSqnr { get; init; }

    [Option("Largest allowed output size as a fraction of the input size (0.3 = 30 %).", Minimum = 0)]
    public double? MaxSizeRatio { get; init; }

    [Option("Largest allowed MACs per sample as a fraction of the input's (0.5 = half the multiply-accumulates).", Minimum = 0)]
    public double? MaxMacsRatio { get; init; }

    [Option("Largest allowed latency as a fraction of the original's (needs evaluate.latency).", Minimum = 0)]
    public double? MaxLatencyRatio { get; init; }

    [Option("Write the model even when a gate fails (the error is still reported).")]
    public bool WriteOnFailure { get; init; }
}

/// <summary>One gate's verdict: the limit, the measured value, and whether it held.</summary>
public sealed record GateVerdict(string Gate, double Limit, double? Value, bool Passed, string Message);

/// <summary>The gates of a recipe checked against the measured figures.</summary>
public static class Gates
{
    public static IReadOnlyList<GateVerdict> Check(GateSpec gates, long inputSize, long outputSize, MacCount inputMacs, MacCount outputMacs, EvaluationReport? evaluation)
    {
        var verdicts = new List<GateVerdict>();
        var before = evaluation?.Reference.Task;
        var after = evaluation?.Candidate?.Task;

        void AtMost(string gate, double? limit, double? value, string what, Func<double, string> format, string unmeasured = "the evaluation does not produce it")
        {
            if (limit is not { } l)
            {
                return;
            }

            var passed = value is { } v && v <= l + 1e-12;
            verdicts.Add(new GateVerdict(gate, l, value, passed, value is null
                ? $"Gate {gate}: {what} could not be measured ({unmeasured})."
                : $"Gate {gate}: {what} is {format(value.Value)}, limit {format(l)}{(passed ? "" : " — failed")}."));
        }

        void AtLeast(string gate, double? limit, double? value, string what, Func<double, string> format, string unmeasured = "the evaluation does not produce it")
        {
            if (limit is not { } l)
            {
                return;
            }

            var passed = value is { } v && v >= l - 1e-12;
            verdicts.Add(new GateVerdict(gate, l, value, passed, value is null
                ? $"Gate {gate}: {what} could not be measured ({unmeasured})."
                : $"Gate {gate}: {what} is {format(value.Value)}, minimum {format(l)}{(passed ? "" : " — failed")}."));
        }

        static string Percent(double x) => x.ToString("0.00 %", CultureInfo.InvariantCulture);
        static string Points(double x) => x.ToString("0.00", CultureInfo.InvariantCulture);

        AtMost("max_size_ratio", gates.MaxSizeRatio, (double)outputSize / Math.Max(1, inputSize), "the size ratio", Percent);
        // A ratio of partial counts could pass a model whose uncounted layers grew: only complete counts are judged.
        AtMost("max_macs_ratio", gates.MaxMacsRatio, MacCount.Ratio(inputMacs, outputMacs), "the MACs ratio", Percent,
            $"{inputMacs.UncountedNodes.Count + outputMacs.UncountedNodes.Count} linear nodes of unknown shape: {string.Join(", ", inputMacs.UncountedNodes.Concat(outputMacs.UncountedNodes).Distinct().Take(5))}");
        AtMost("accuracy_drop", gates.AccuracyDrop, before?.Top1 is { } a && after?.Top1 is { } b ? a - b : null, "the top-1 accuracy drop", Percent);
        AtMost("spearman_drop", gates.SpearmanDrop, before?.Spearman is { } s && after?.Spearman is { } t ? (s - t) * 100 : null, "the Spearman drop (x100)", Points);
        var fidelity = evaluation?.Fidelity ?? [];
        AtLeast("min_agreement", gates.MinAgreement, fidelity.Min(f => f.Agreement), "the lowest top-1 agreement", Percent,
            fidelity.Count == 0 ? "the evaluation does not produce it" : "no output holds class scores; top-1 agreement applies to class scores only, use min_cosine");
        AtLeast("min_cosine", gates.MinCosine, fidelity.Count == 0 ? null : fidelity.Min(f => f.Cosine), "the lowest output cosine", x => x.ToString("0.0000", CultureInfo.InvariantCulture));
        AtLeast("min_sqnr", gates.MinSqnr, fidelity.Count == 0 ? null : fidelity.Min(f => f.SqnrDb), "the lowest SQNR", x => x.ToString("0.0 dB", CultureInfo.InvariantCulture));
        AtMost("max_latency_ratio", gates.MaxLatencyRatio,
            evaluation?.Reference.Latency is { } rl && evaluation.Candidate?.Latency is { } cl ? cl.MedianMs / rl.MedianMs : null, "the latency ratio", Percent);
        return verdicts;
    }
}
