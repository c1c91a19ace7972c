using System.Globalization;
using Compression.Core.Reports;

namespace Compression.Core.Pipeline;

/// <summary>The one-line account of a run: the steps (with their mode or method), the size before and after, the headline figure, the gates.</summary>
internal static class ResultSummary
{
    public static string Line(CompressionResult result)
    {
        var steps = result.Steps.Count == 0 ? "no steps" : string.Join(" + ", result.Steps.Select(Describe));
        var line = new System.Text.StringBuilder();
        line.Append(CultureInfo.InvariantCulture, $"{steps}: {Size(result.InputSizeBytes)} -> {Size(result.OutputSizeBytes)} ({result.SizeRatio:0.0 %})");
        if (result.Evaluation is { } evaluation)
        {
            var task = evaluation.Reference.Task;
            var count = task.Samples == 0 ? "" : task.Spearman is not null ? $" ({task.Samples} pairs)" : $" ({task.Samples} samples)";
            line.Append(CultureInfo.InvariantCulture, $"; {evaluation.Headline} on {evaluation.DataSet}{count}");
        }

        var failed = result.Gates.Count(g => !g.Passed);
        line.Append(result.Gates.Count == 0 ? "; no gates" : failed == 0 ? $"; gates: {result.Gates.Count} passed" : $"; gates: {failed} of {result.Gates.Count} failed");
        return line.ToString();
    }

    /// <summary>A step's name and the option that says most about it: quantize (dynamic), prune (structured).</summary>
    private static string Describe(StepSummary step) =>
        (step.Options.GetValueOrDefault("mode") ?? step.Options.GetValueOrDefault("method")) is string kind ? $"{step.Name} ({kind})" : step.Name;

    public static string Size(long bytes) => bytes switch
    {
        >= 1 << 20 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1048576.0:0.0} MB"),
        >= 1 << 10 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:0.0} KB"),
        _ => $"{bytes} B",
    };
}
