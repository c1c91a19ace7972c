using System.Globalization;

namespace Compression.Core.Evaluation;

/// <summary>
/// The one figure of an evaluation a summary line shows: the task metric (top-1 accuracy, or Spearman on sentence
/// pairs with scores), before and after; without one, the fidelity figure that fits the outputs: top-1 agreement when
/// an output holds class scores, else the pooled cosine of hidden states and embeddings, else the cosine.
/// </summary>
internal static class Headlines
{
    public static string Of(EvaluationReport evaluation)
    {
        var before = evaluation.Reference.Task;
        var after = evaluation.Candidate?.Task;
        if (before.Top1 is { } a)
        {
            return after?.Top1 is { } b
                ? Invariant($"top-1 {a:0.00 %} -> {b:0.00 %} ({(b - a) * 100:+0.00;-0.00;0.00} pt)")
                : Invariant($"top-1 {a:0.00 %}");
        }

        if (before.Spearman is { } s)
        {
            return after?.Spearman is { } t
                ? Invariant($"Spearman {s * 100:0.00} -> {t * 100:0.00} ({(t - s) * 100:+0.00;-0.00;0.00})")
                : Invariant($"Spearman {s * 100:0.00}");
        }

        var fidelity = evaluation.Fidelity;
        if (Lowest(fidelity.Select(f => f.Agreement)) is { } agreement)
        {
            return Invariant($"agreement {agreement:0.00 %}");
        }

        if (Lowest(fidelity.Select(f => f.PooledCosine)) is { } pooled)
        {
            return Invariant($"pooled cosine {pooled:0.0000}");
        }

        return fidelity.Count > 0 ? Invariant($"cosine {fidelity.Min(f => f.Cosine):0.0000}") : "no task metric";
    }

    /// <summary>The lowest of the values present; null when none is.</summary>
    public static double? Lowest(IEnumerable<double?> values) => values.Min();

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
