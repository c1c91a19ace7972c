using Compression.Core.Data;
using Compression.Core.Evaluation;
using Compression.Core.Evaluation.Metrics;
using Compression.Core.Options;
using Compression.Core.Passes;
using Compression.Core.Recipes.Search;

namespace Compression.Core.Recipes;

/// <summary>
/// A compression recipe: named data sets, ordered steps, the evaluation, the gates and the output name.
/// Every key is documented in docs/recipes.md and in docs/recipe.schema.json, both made from these types.
/// </summary>
public sealed record Recipe
{
    [Option("Recipe format version. Only 1 exists.", Minimum = 1, Maximum = 1)]
    public int Version { get; init; } = 1;

    [Option("Data sets by name, for calibration and evaluation. Paths are relative to the recipe's folder.")]
    public IReadOnlyDictionary<string, DataSetSpec> Data { get; init; } = new Dictionary<string, DataSetSpec>();

    /// <summary>The steps in order; bound by the parser (each item names one pass).</summary>
    public IReadOnlyList<RecipeStep> Steps { get; init; } = [];

    [Option("How the result is checked against the original. Without it the model is only transformed.")]
    public EvaluateSpec? Evaluate { get; init; }

    [Option("Limits the result must meet; a failed gate is an error and the model is not written unless asked.")]
    public GateSpec Gates { get; init; } = new();

    [Option("Search the steps' options for the best model that meets constraints (see docs/search.md). Find-ModelCompression and the build task run it.")]
    public Search.SearchSpec? Search { get; init; }

    [Option("The output file name, relative to the input model's folder. {name} is the input's name without extension.")]
    public string Output { get; init; } = "{name}.compressed.onnx";

    /// <summary>The recipe file, when it was read from one.</summary>
    public string? File { get; init; }

    /// <summary>Relative paths in the recipe resolve against this folder.</summary>
    public string BaseDirectory { get; init; } = Directory.GetCurrentDirectory();

    /// <summary>
    /// The files the recipe's data sets name (data, labels, vocab, ...), by data set and option key, as full paths:
    /// what a report hashes and what a build treats as inputs. Folders (image sets) are listed file by file.
    /// </summary>
    public IEnumerable<(string DataSet, string Key, string Path)> DataFiles()
    {
        foreach (var (name, spec) in Data.OrderBy(d => d.Key, StringComparer.Ordinal))
        {
            foreach (var property in spec.GetType().GetProperties().Where(p => p.PropertyType == typeof(string)))
            {
                if (property.GetValue(spec) is not string value || value.Length == 0)
                {
                    continue;
                }

                var path = System.IO.Path.GetFullPath(System.IO.Path.Combine(BaseDirectory, value));
                var key = OptionNames.SnakeCase(property.Name);
                if (System.IO.File.Exists(path))
                {
                    yield return (name, key, path);
                }
                else if (System.IO.Directory.Exists(path))
                {
                    foreach (var file in System.IO.Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
                    {
                        yield return (name, key, file);
                    }
                }
            }
        }
    }
}

/// <summary>One step: a registered pass and its bound options, with where it stands in the recipe.</summary>
public sealed record RecipeStep(IPass Pass, PassOptions Options, int Line, int Column);

/// <summary>The <c>evaluate</c> section.</summary>
public sealed record EvaluateSpec
{
    [Option("The data set (a name under data) to evaluate on.")]
    public required string Data { get; init; }

    [Option("Metrics to report. Task metrics need labels: accuracy, top_k, spearman, pearson. Fidelity to the original: agreement, cosine, mse, sqnr, max_error. Default: all that apply.")]
    public IReadOnlyList<MetricName> Metrics { get; init; } = [];

    [Option("Samples per batch; a model with a fixed batch size uses its own.", Minimum = 1)]
    public int BatchSize { get; init; } = 32;

    [Option("k for top-k accuracy.", Minimum = 1)]
    public int TopK { get; init; } = 5;

    [Option("How token embeddings become a sentence vector for similarity tasks.")]
    public Pooling Pooling { get; init; } = Pooling.Mean;

    [Option("The model output task metrics read; default the first output.")]
    public string? Output { get; init; }

    [Option("Intra-op threads ONNX Runtime uses while evaluating.", Minimum = 1)]
    public int Threads { get; init; } = 1;

    [Option("Measure latency too: batch size, threads, warm-up runs and timed runs.")]
    public LatencySpec? Latency { get; init; }

    public EvaluationOptions ToOptions() => new()
    {
        BatchSize = BatchSize,
        TopK = TopK,
        Pooling = Pooling,
        Output = Output,
        Threads = Threads,
        Metrics = Metrics,
        Latency = Latency is null ? null : new LatencyOptions { Batch = Latency.Batch, Threads = Latency.Threads, Warmup = Latency.Warmup, Runs = Latency.Runs },
    };
}

/// <summary>The <c>evaluate.latency</c> section.</summary>
public sealed record LatencySpec
{
    [Option("Samples per timed run.", Minimum = 1)]
    public int Batch { get; init; } = 1;

    [Option("Intra-op threads; 1 is the figure people compare.", Minimum = 1)]
    public int Threads { get; init; } = 1;

    [Option("Untimed runs first.", Minimum = 0)]
    public int Warmup { get; init; } = 5;

    [Option("Timed runs; the median and 90th percentile are reported.", Minimum = 1)]
    public int Runs { get; init; } = 50;
}
