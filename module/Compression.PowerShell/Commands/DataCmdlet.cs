using System.Management.Automation;
using Compression.Core.Data;
using Compression.Core.Diagnostics;
using Compression.Core.Evaluation;
using Compression.Core.Recipes;

namespace Compression.PowerShell.Commands;

/// <summary>
/// The data and run settings of the evaluation cmdlets: <c>-Data</c> (a data file, a folder, a small YAML data
/// description, or with <c>-Recipe</c> the name of one of the recipe's data sets), <c>-Labels</c>, <c>-Take</c>,
/// <c>-BatchSize</c>, <c>-Threads</c> and <c>-Latency</c>.
/// </summary>
public interface IDataParameters
{
    string Data { get; }

    /// <summary>A recipe whose data set <see cref="Data"/> names.</summary>
    string? Recipe { get; }

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
        var (spec, folder) = parameters.Recipe is null ? Describe(resolve(parameters.Data)) : FromRecipe(resolve(parameters.Recipe), parameters.Data);
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

    /// <summary>The data set a recipe defines under <paramref name="name"/>, with the recipe's folder for its relative paths.</summary>
    public static (DataSetSpec Spec, string Folder) FromRecipe(string recipePath, string name)
    {
        var recipe = RecipeParser.Load(recipePath);
        if (!recipe.Data.TryGetValue(name, out var spec))
        {
            var known = recipe.Data.Count == 0 ? "it defines none" : $"it defines {string.Join(", ", recipe.Data.Keys)}";
            throw new CompressionException(Diagnostic.Error(ErrorCodes.RecipeUnknownDataSet, $"The recipe has no data set '{name}' ({known}).", recipePath));
        }

        return (spec with { Name = spec.Name ?? name }, recipe.BaseDirectory);
    }

    public static EvaluationOptions Options(IDataParameters parameters) => new()
    {
        BatchSize = parameters.BatchSize,
        Threads = parameters.Threads,
        Latency = parameters.Latency ? new LatencyOptions { Threads = parameters.Threads } : null,
        Metrics = parameters.Metric.Select(name => Enum.GetValues<MetricName>().Single(m => string.Equals(m.ToString(), name.Replace("_", ""), StringComparison.OrdinalIgnoreCase))).ToList(),
    };
}
