using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography;
using Compression.Core.Data;
using Compression.Core.Diagnostics;
using Compression.Core.Evaluation;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Inspection;
using Compression.Core.Pipeline;
using Compression.Core.Recipes;
using Compression.Core.Recipes.Search;

namespace Compression.Core.Search;

/// <summary>
/// Runs one trial: the recipe's steps with the trial's values on the input model, the result saved to a scratch
/// file and hashed, then evaluated with ONNX Runtime on the search data, unless a model with the same hash was
/// evaluated before (the cache). Each trial opens its own data sources, so trials can run side by side.
/// </summary>
internal sealed class TrialEvaluator(string inputPath, Recipe recipe, string? dataSet, EvaluationOptions? evaluation, bool compare, bool sparsity,
    IReadOnlyDictionary<string, double> baseline, string scratch)
{
    private readonly ConcurrentDictionary<string, IReadOnlyDictionary<string, double>> cache = new(StringComparer.Ordinal);

    /// <summary>Models already measured, by SHA-256 (from the journal and this run).</summary>
    public void Remember(string sha256, IReadOnlyDictionary<string, double> metrics) => cache.TryAdd(sha256, metrics);

    public Trial Run(int number, SearchConfig config, SearchSpace space, CancellationToken cancellation)
    {
        var clock = Stopwatch.StartNew();
        var values = space.Labels(config);
        var candidate = Path.Combine(scratch, $"trial-{number}.onnx");
        try
        {
            var trialRecipe = space.Apply(recipe, config);
            var dataSets = Open(trialRecipe);
            var quiet = new CollectingLog();
            var (model, _) = CompressionPipeline.RunSteps(inputPath, ModelLoader.Load(inputPath), trialRecipe, dataSets, quiet, cancellation);
            ModelWriter.Save(model, candidate, new SaveOptions { Overwrite = true });
            string sha;
            using (var stream = File.OpenRead(candidate))
            {
                sha = Convert.ToHexString(SHA256.HashData(stream)).ToLowerInvariant();
            }

            var metrics = cache.GetOrAdd(sha, _ => Measure(candidate, dataSets, quiet, cancellation));
            return new Trial { Number = number, Config = config, Values = values, ModelSha256 = sha, Metrics = metrics, Seconds = clock.Elapsed.TotalSeconds };
        }
        catch (CompressionException e)
        {
            // Options a step refuses (a combination the space allows but the pass does not) make a failed trial, not a failed search.
            var error = string.Join(" ", e.Diagnostics.Select(d => $"{d.Code}: {d.Message}"));
            return new Trial { Number = number, Config = config, Values = values, Error = error, Seconds = clock.Elapsed.TotalSeconds };
        }
        catch (Microsoft.ML.OnnxRuntime.OnnxRuntimeException e)
        {
            // A model ONNX Runtime will not load or run is a failed trial too: the next one may be fine.
            return new Trial { Number = number, Config = config, Values = values, Error = $"ONNX Runtime: {e.Message}", Seconds = clock.Elapsed.TotalSeconds };
        }
        finally
        {
            File.Delete(candidate);
        }
    }

    /// <summary>The original's figures: what every trial is compared with.</summary>
    public static IReadOnlyDictionary<string, double> MeasureOriginal(string inputPath, Recipe recipe, string? dataSet, EvaluationOptions? evaluation, bool sparsity,
        ICompressionLog log, CancellationToken cancellation)
    {
        var info = ModelInspector.Inspect(inputPath);
        var metrics = new Dictionary<string, double>(StringComparer.Ordinal)
        {
            ["size"] = ModelLoader.Load(inputPath, LoadOptions.MetadataOnly).SizeOnDisk,
            ["size_ratio"] = 1,
            ["parameters"] = info.ParameterCount,
        };
        if (info.Macs.IsComplete)
        {
            metrics["macs"] = info.Macs.Macs;
            metrics["macs_ratio"] = 1;
        }

        if (sparsity)
        {
            metrics["sparsity"] = ModelInspector.WeightSparsity(ModelLoader.Load(inputPath));
        }

        if (dataSet is not null && evaluation is not null)
        {
            var data = DataSourceFactory.Create(recipe.Data[dataSet] with { Name = recipe.Data[dataSet].Name ?? dataSet }, recipe.BaseDirectory);
            var report = Evaluator.Evaluate(inputPath, null, data, evaluation, log, cancellation);
            AddTask(metrics, report.Reference, null);
            if (report.Reference.Latency is { } latency)
            {
                metrics["latency_ms"] = latency.MedianMs;
                metrics["latency_ratio"] = 1;
            }
        }

        return metrics;
    }

    private IReadOnlyDictionary<string, double> Measure(string candidate, IReadOnlyDictionary<string, IDataSource> dataSets, ICompressionLog log, CancellationToken cancellation)
    {
        var size = (double)ModelLoader.Load(candidate, LoadOptions.MetadataOnly).SizeOnDisk;
        var info = ModelInspector.Inspect(candidate);
        var metrics = new Dictionary<string, double>(StringComparer.Ordinal)
        {
            ["size"] = size,
            ["size_ratio"] = size / baseline["size"],
            ["parameters"] = info.ParameterCount,
        };
        // A partial count is no measure: left absent, it ranks last and meets no constraint.
        if (info.Macs.IsComplete)
        {
            metrics["macs"] = info.Macs.Macs;
            if (baseline.TryGetValue("macs", out var originalMacs) && originalMacs > 0)
            {
                metrics["macs_ratio"] = info.Macs.Macs / originalMacs;
            }
        }

        if (sparsity)
        {
            metrics["sparsity"] = ModelInspector.WeightSparsity(ModelLoader.Load(candidate));
        }

        if (dataSet is null || evaluation is null)
        {
            return metrics;
        }

        // Task metrics need only the candidate; fidelity needs the original run beside it on the same batches.
        var report = compare
            ? Evaluator.Evaluate(inputPath, candidate, dataSets[dataSet], evaluation, log, cancellation)
            : Evaluator.Evaluate(candidate, null, dataSets[dataSet], evaluation, log, cancellation);
        var measured = compare ? report.Candidate! : report.Reference;
        AddTask(metrics, measured, baseline);
        if (report.Fidelity.Count > 0)
        {
            if (report.Fidelity.Min(f => f.Agreement) is { } agreement)
            {
                // Only outputs of class scores have one (see OutputRoles).
                metrics["agreement"] = agreement;
            }

            metrics["cosine"] = report.Fidelity.Min(f => f.Cosine);
            metrics["sqnr"] = report.Fidelity.Min(f => f.SqnrDb);
            metrics["mse"] = report.Fidelity.Max(f => f.Mse);
            metrics["max_error"] = report.Fidelity.Max(f => f.MaxAbsoluteError);
        }

        if (measured.Latency is { } latency)
        {
            metrics["latency_ms"] = latency.MedianMs;
            if (baseline.TryGetValue("latency_ms", out var before) && before > 0)
            {
                metrics["latency_ratio"] = latency.MedianMs / before;
            }
        }

        return metrics;
    }

    private static void AddTask(Dictionary<string, double> metrics, ModelMeasurement measured, IReadOnlyDictionary<string, double>? baseline)
    {
        var task = measured.Task;
        void Put(string name, double? value, double scale, string? drop)
        {
            if (value is not { } v)
            {
                return;
            }

            metrics[name] = v * scale;
            if (drop is not null)
            {
                metrics[drop] = baseline is null ? 0 : baseline.TryGetValue(name, out var before) ? before - v * scale : double.NaN;
            }
        }

        Put("accuracy", task.Top1, 1, "accuracy_drop");
        Put("top_k", task.TopK, 1, null);
        Put("spearman", task.Spearman, 100, "spearman_drop");
        Put("pearson", task.Pearson, 100, null);
    }

    private Dictionary<string, IDataSource> Open(Recipe trialRecipe) =>
        trialRecipe.Data.ToDictionary(d => d.Key, d => DataSourceFactory.Create(d.Value with { Name = d.Value.Name ?? d.Key }, trialRecipe.BaseDirectory));
}
