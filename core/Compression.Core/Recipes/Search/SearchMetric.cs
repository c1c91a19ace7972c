using System.Globalization;

namespace Compression.Core.Recipes.Search;

/// <summary>What a metric needs from the evaluation.</summary>
public enum MetricSource
{
    /// <summary>The file itself: always there.</summary>
    File,

    /// <summary>Task metrics on labelled data (accuracy, Spearman, ...).</summary>
    Task,

    /// <summary>Comparison with the original's outputs on the same data.</summary>
    Fidelity,

    /// <summary>Timed runs.</summary>
    Latency,
}

/// <summary>A figure trials are measured by: its name in recipes, which way is better, and how it prints.</summary>
public sealed record SearchMetric(string Name, bool HigherIsBetter, MetricSource Source, string Description)
{
    public static IReadOnlyList<SearchMetric> All { get; } =
    [
        new("size", false, MetricSource.File, "bytes of the model file (constraints take 12 MB, 900 KB: decimal units)"),
        new("size_ratio", false, MetricSource.File, "size over the original's size"),
        new("parameters", false, MetricSource.File, "weight values stored (elements of initializers and constant tensors)"),
        new("macs", false, MetricSource.File, "multiply-accumulates per sample of the linear layers, counted from the graph (absent when a linear layer's shape is unknown)"),
        new("macs_ratio", false, MetricSource.File, "MACs over the original's"),
        new("sparsity", true, MetricSource.File, "fraction of zeros in the float weights of rank 2 and up (matrices and kernels, dense or sparse), e.g. after pruning"),
        new("accuracy", true, MetricSource.Task, "top-1 accuracy, a fraction (0.989)"),
        new("accuracy_drop", false, MetricSource.Task, "the original's top-1 accuracy minus the trial's, a fraction (0.002 = 0.2 points)"),
        new("top_k", true, MetricSource.Task, "top-k accuracy, a fraction"),
        new("spearman", true, MetricSource.Task, "Spearman correlation x100 (sentence pairs with scores)"),
        new("spearman_drop", false, MetricSource.Task, "the original's Spearman x100 minus the trial's"),
        new("pearson", true, MetricSource.Task, "Pearson correlation x100"),
        new("agreement", true, MetricSource.Fidelity, "lowest top-1 agreement with the original over the outputs"),
        new("cosine", true, MetricSource.Fidelity, "lowest cosine similarity to the original's outputs"),
        new("sqnr", true, MetricSource.Fidelity, "lowest SQNR against the original's outputs, dB"),
        new("mse", false, MetricSource.Fidelity, "largest mean squared error against the original's outputs"),
        new("max_error", false, MetricSource.Fidelity, "largest absolute error against the original's outputs"),
        new("latency_ms", false, MetricSource.Latency, "median run time, milliseconds (evaluate.latency, or batch 1 on one thread)"),
        new("latency_ratio", false, MetricSource.Latency, "median run time over the original's"),
    ];

    public static SearchMetric? Find(string name) => All.FirstOrDefault(m => m.Name == name);

    /// <summary>A value as people read it: sizes in MB or KB, fractions as percentages, the rest with 4 significant digits.</summary>
    public string Format(double value) => Name switch
    {
        "size" => FormatSize(value),
        "size_ratio" or "macs_ratio" or "accuracy" or "top_k" or "agreement" or "latency_ratio" => value.ToString("0.00 %", CultureInfo.InvariantCulture),
        "accuracy_drop" => (value * 100).ToString("0.00", CultureInfo.InvariantCulture) + " pt",
        "parameters" or "macs" => value.ToString("N0", CultureInfo.InvariantCulture),
        "spearman" or "spearman_drop" or "pearson" => value.ToString("0.00", CultureInfo.InvariantCulture),
        "latency_ms" => value.ToString("0.000", CultureInfo.InvariantCulture) + " ms",
        "sqnr" => value.ToString("0.0", CultureInfo.InvariantCulture) + " dB",
        _ => value.ToString("G4", CultureInfo.InvariantCulture),
    };

    public static string FormatSize(double bytes) => bytes >= 1e6
        ? (bytes / 1e6).ToString("0.000", CultureInfo.InvariantCulture) + " MB"
        : (bytes / 1e3).ToString("0.0", CultureInfo.InvariantCulture) + " KB";
}

/// <summary>One objective: a metric and whether it is minimized.</summary>
public sealed record Objective(SearchMetric Metric, bool Minimize)
{
    public override string ToString() => $"{(Minimize ? "minimize" : "maximize")} {Metric.Name}";

    /// <summary>The value turned so that lower is better.</summary>
    public double Cost(double value) => Minimize ? value : -value;
}

/// <summary>One constraint: a metric, at most or at least a limit.</summary>
public sealed record Constraint(SearchMetric Metric, bool AtMost, double Limit, string Text)
{
    public override string ToString() => Text;

    public bool Holds(double? value) => value is { } v && !double.IsNaN(v) && (AtMost ? v <= Limit + Tolerance : v >= Limit - Tolerance);

    /// <summary>How far a value is on the wrong side, relative to the limit's size (0 when it holds; infinite when unmeasured).</summary>
    public double Violation(double? value)
    {
        if (value is not { } v || double.IsNaN(v))
        {
            return double.PositiveInfinity;
        }

        var excess = AtMost ? v - Limit : Limit - v;
        return excess <= Tolerance ? 0 : excess / Math.Max(Math.Abs(Limit), 1e-6);
    }

    private const double Tolerance = 1e-12;
}
