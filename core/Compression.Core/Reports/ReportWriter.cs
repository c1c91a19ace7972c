using System.Collections;
using System.Globalization;
using System.Reflection;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Compression.Core.Evaluation;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Inspection;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Options;
using Compression.Core.Passes;
using Compression.Core.Pipeline;
using Compression.Core.Recipes;

namespace Compression.Core.Reports;

/// <summary>Everything a report says about a run, apart from when it ran.</summary>
public sealed record ReportSummary(string Input, string Output, long InputSize, long OutputSize, MacCount InputMacs, MacCount OutputMacs, IReadOnlyList<StepSummary> Steps,
    EvaluationReport? Evaluation, IReadOnlyList<GateVerdict> Gates, Recipe Recipe);

/// <summary>
/// Writes the JSON report beside the output and stamps a summary into the model's metadata_props. The summary
/// holds only what is the same on every run (no times, no latencies), so the model stays byte-identical.
/// </summary>
public static class ReportWriter
{
    public const string MetadataKey = "compression";

    public static string ToolVersion { get; } =
        typeof(ReportWriter).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>Fidelity entries name their output's kind and leave out the figures that do not apply to it (agreement of a hidden state).</summary>
    private static readonly JsonSerializerOptions FidelityJson = new()
    {
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() },
    };

    /// <summary>A step's typed result in snake_case (node names as they are); figures a step did not measure are left out.</summary>
    private static readonly JsonSerializerOptions StepResultJson = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() },
    };

    public static string Write(ReportSummary summary, string path, DateTimeOffset started, TimeSpan duration, bool written)
    {
        var report = Deterministic(summary);
        report["written"] = written;
        report["run"] = new JsonObject
        {
            ["started"] = started.ToString("O", CultureInfo.InvariantCulture),
            ["seconds"] = Math.Round(duration.TotalSeconds, 3),
            ["machine"] = $"{Environment.ProcessorCount} cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}",
            ["latency"] = Latency(summary.Evaluation),
        };
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var temp = path + $".{Guid.NewGuid():N}.tmp";
        File.WriteAllText(temp, report.ToJsonString(Indented));
        File.Move(temp, path, overwrite: true);
        return path;
    }

    /// <summary>
    /// Adds a compact summary to the model's metadata_props (replacing an earlier one): the tool, the hashes of the
    /// input and recipe, the steps, and the figures that matter. Small on purpose: a 12 KB model should not grow by
    /// its own report (the full report is the JSON file). Sizes and gates depend on this very stamp and stay out.
    /// </summary>
    public static void StampMetadata(OnnxModel model, ReportSummary summary)
    {
        var props = model.Proto.MetadataProps;
        for (var i = props.Count - 1; i >= 0; i--)
        {
            if (props[i].Key == MetadataKey)
            {
                props.RemoveAt(i);
            }
        }

        var stamp = new JsonObject
        {
            ["tool"] = $"Compression {ToolVersion}",
            ["input_sha256"] = Sha256(summary.Input),
            ["recipe_sha256"] = summary.Recipe.File is { } recipeFile && File.Exists(recipeFile) ? Sha256(recipeFile) : null,
            ["steps"] = new JsonArray(summary.Steps.Select(s => (JsonNode)s.Name).ToArray()),
        };
        if (summary.Evaluation is { } evaluation)
        {
            stamp["data"] = evaluation.DataSet;
            stamp["before"] = Figures(evaluation.Reference.Task, null);
            stamp["after"] = Figures(evaluation.Candidate?.Task, evaluation.Fidelity);
        }

        props.Add(new StringStringEntryProto { Key = MetadataKey, Value = stamp.ToJsonString() });
    }

    private static JsonObject? Figures(Evaluation.Metrics.TaskMetrics? task, IReadOnlyList<Evaluation.Metrics.FidelityMetrics>? fidelity)
    {
        if (task is null)
        {
            return null;
        }

        var figures = new JsonObject { ["samples"] = task.Samples };
        if (task.Top1 is { } top1)
        {
            figures["top1"] = Math.Round(top1, 6);
        }

        if (task.Spearman is { } spearman)
        {
            figures["spearman"] = Math.Round(spearman, 6);
        }

        if (fidelity is { Count: > 0 })
        {
            // Only the figures that mean something for the outputs: agreement of class scores, pooled cosine of vectors.
            if (fidelity.Min(f => f.Agreement) is { } agreement)
            {
                figures["min_agreement"] = Math.Round(agreement, 6);
            }

            if (fidelity.Min(f => f.PooledCosine) is { } pooled)
            {
                figures["min_pooled_cosine"] = Math.Round(pooled, 6);
            }

            if (fidelity.Min(f => f.PairSimilaritySpearman) is { } pairs)
            {
                figures["min_pair_similarity_spearman"] = Math.Round(pairs, 6);
            }

            figures["min_cosine"] = Math.Round(fidelity.Min(f => f.Cosine), 6);
        }

        return figures;
    }

    /// <summary>A pass's options as snake_case keys and plain values, for the report.</summary>
    public static IReadOnlyDictionary<string, object?> OptionsOf(PassOptions options) =>
        OptionBinder.Options(options.GetType()).ToDictionary(p => OptionNames.SnakeCase(p.Name), p => Plain(p.GetValue(options)));

    /// <summary>The count with the linear layers it leaves out, so a partial count never reads as a whole one.</summary>
    private static JsonObject Macs(MacCount count) => new()
    {
        ["macs"] = count.Macs,
        ["uncounted_nodes"] = new JsonArray(count.UncountedNodes.Select(n => (JsonNode)n).ToArray()),
    };

    private static JsonObject Deterministic(ReportSummary s) => new()
    {
        ["tool"] = "Compression",
        ["version"] = ToolVersion,
        ["input"] = s.Input,
        ["input_sha256"] = Sha256(s.Input),
        ["recipe_sha256"] = s.Recipe.File is { } recipeFile && File.Exists(recipeFile) ? Sha256(recipeFile) : null,
        ["data_sha256"] = DataHashes(s.Recipe),
        ["output"] = s.Output,
        ["input_size"] = s.InputSize,
        ["output_size"] = s.OutputSize,
        ["input_macs"] = Macs(s.InputMacs),
        ["output_macs"] = Macs(s.OutputMacs),
        ["steps"] = new JsonArray(s.Steps.Select(step => (JsonNode)new JsonObject
        {
            ["name"] = step.Name,
            ["options"] = JsonSerializer.SerializeToNode(step.Options),
            ["result"] = JsonSerializer.SerializeToNode(step.Result, step.Result.GetType(), StepResultJson),
        }).ToArray()),
        ["evaluation"] = s.Evaluation is null ? null : new JsonObject
        {
            ["data"] = s.Evaluation.DataSet,
            ["synthetic_data"] = s.Evaluation.SyntheticData,
            ["before"] = JsonSerializer.SerializeToNode(s.Evaluation.Reference.Task),
            ["after"] = s.Evaluation.Candidate is null ? null : JsonSerializer.SerializeToNode(s.Evaluation.Candidate.Task),
            ["fidelity"] = JsonSerializer.SerializeToNode(s.Evaluation.Fidelity.Select(f => f with { SqnrDb = double.IsInfinity(f.SqnrDb) ? 999 : f.SqnrDb }), FidelityJson),
        },
        ["gates"] = JsonSerializer.SerializeToNode(s.Gates),
    };

    private static JsonNode? Latency(EvaluationReport? evaluation) => evaluation?.Reference.Latency is null ? null : new JsonObject
    {
        ["before"] = JsonSerializer.SerializeToNode(evaluation.Reference.Latency),
        ["after"] = evaluation.Candidate?.Latency is null ? null : JsonSerializer.SerializeToNode(evaluation.Candidate.Latency),
    };

    /// <summary>The hash of every file a data set names; a folder's files hash together, in name order.</summary>
    private static JsonObject DataHashes(Recipe recipe)
    {
        var hashes = new JsonObject();
        foreach (var group in recipe.DataFiles().GroupBy(f => f.DataSet))
        {
            var files = new JsonObject();
            foreach (var key in group.GroupBy(f => f.Key))
            {
                files[key.Key] = key.Count() == 1 ? Sha256(key.First().Path) : Sha256Of(key.Select(f => f.Path));
            }

            hashes[group.Key] = files;
        }

        return hashes;
    }

    private static string Sha256Of(IEnumerable<string> paths)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var path in paths)
        {
            hash.AppendData(System.Text.Encoding.UTF8.GetBytes(Path.GetFileName(path)));
            hash.AppendData(File.ReadAllBytes(path));
        }

        return Convert.ToHexString(hash.GetHashAndReset()).ToLowerInvariant();
    }

    private static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexString(SHA256.HashData(stream)).ToLowerInvariant();
    }

    private static object? Plain(object? value) => value switch
    {
        null => null,
        Enum e => OptionNames.EnumName(e),
        string or bool or int or long or double => value,
        IEnumerable list => list.Cast<object?>().Select(Plain).ToList(),
        _ when OptionBinder.Options(value.GetType()).Count > 0 => OptionBinder.Options(value.GetType()).ToDictionary(p => OptionNames.SnakeCase(p.Name), p => Plain(p.GetValue(value))),
        _ => value.ToString(),
    };
}
