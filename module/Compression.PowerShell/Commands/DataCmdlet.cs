using System.Management.Automation;
using Compression.Core.Data;
using Compression.Core.Evaluation;
using Compression.Core.Recipes;

namespace Compression.PowerShell.Commands;

/// <summary>
/// The data and run settings of the evaluation cmdlets: <c>-Data</c> (a data file, a folder, or a small YAML data
/// description), <c>-Labels</c>, <c>-Take</c>, <c>-BatchSize</c>, <c>-Threads</c> and <c>-Latency</c>.
/// </summary>
public interface IDataParameters
{
    string Data { get; }

    string? Labels { get; }

    int Take { get; }

    int BatchSize { get; }

    int Threads { get; }

    SwitchParameter Latency { get; }

    /// <summary>Metrics that must be produced, by their recipe names (accuracy, spearman, agreement, ...).</summary>
    string[] Metric { get; }
}

internal static class DataParameters
{
    public static IDataSource Open(IDataParameters parameters, Func<string, string> resolve)
    {
        var (spec, folder) = Describe(resolve(parameters.Data));
        spec = spec with
        {
            Labels = parameters.Labels is null ? spec.Labels : resolve(parameters.Labels),
            Take = parameters.Take == int.MaxValue ? spec.Take : parameters.Take,
        };
        return DataSourceFactory.Create(spec, folder);
    }

    /// <summary>A -Data argument as a data set: a YAML description (paths relative to it), or a file or folder whose format is guessed.</summary>
    public static (DataSetSpec Spec, string Folder) Describe(string path) =>
        (Path.GetExtension(path) is ".yaml" or ".yml" ? RecipeParser.LoadDataSet(path) : DataSourceFactory.Describe(path), Path.GetDirectoryName(path)!);

    public static EvaluationOptions Options(IDataParameters parameters) => new()
    {
        BatchSize = parameters.BatchSize,
        Threads = parameters.Threads,
        Latency = parameters.Latency ? new LatencyOptions { Threads = parameters.Threads } : null,
        Metrics = parameters.Metric.Select(name => Enum.GetValues<MetricName>().Single(m => string.Equals(m.ToString(), name.Replace("_", ""), StringComparison.OrdinalIgnoreCase))).ToList(),
    };
}
