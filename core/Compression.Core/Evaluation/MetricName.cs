namespace Compression.Core.Evaluation;

/// <summary>Metrics a recipe or <c>Measure-Model -Metric</c> may ask for.</summary>
public enum MetricName
{
    Accuracy,
    TopK,
    Spearman,
    Pearson,
    Agreement,
    Cosine,
    Mse,
    Sqnr,
    MaxError,
    Latency,
}
