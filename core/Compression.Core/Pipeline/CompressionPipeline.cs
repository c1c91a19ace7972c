using System.Diagnostics;
using System.Globalization;
using Compression.Core.Data;
using Compression.Core.Diagnostics;
using Compression.Core.Evaluation;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Inspection;
using Compression.Core.Passes;
using Compression.Core.Recipes;
using Compression.Core.Reports;

namespace Compression.Core.Pipeline;

/// <summary>A request to compress one model with a recipe.</summary>
public sealed record CompressionRequest(string ModelPath, Recipe Recipe)
{
    /// <summary>Overrides the recipe's output name.</summary>
    public string? OutputPath { get; init; }

    /// <summary>Replace an existing output.</summary>
    public bool Force { get; init; }
}

/// <summary>What a run would do, for -WhatIf and the task's plan log.</summary>
public sealed record CompressionPlan(string InputPath, string OutputPath, IReadOnlyList<string> Steps, IReadOnlyList<string> DataSets, string? EvaluationData);

/// <summary>
/// Load, run the steps (each timed, checked and logged), evaluate the original and the result, apply the gates,
/// save atomically, and write the report (JSON beside the output, summary in the model's metadata_props).
/// </summary>
public static class CompressionPipeline
{
    public static CompressionPlan Plan(CompressionRequest request)
    {
        var input = Path.GetFullPath(request.ModelPath);
        return new CompressionPlan(input, OutputPathFor(request),
            request.Recipe.Steps.Select(s => s.Pass.Name).ToList(),
            request.Recipe.Data.Keys.ToList(),
            request.Recipe.Evaluate?.Data);
    }

    public static string OutputPathFor(CompressionRequest request)
    {
        var input = Path.GetFullPath(request.ModelPath);
        return request.OutputPath is { } explicitPath
            ? Path.GetFullPath(explicitPath)
            : Path.GetFullPath(Path.Combine(Path.GetDirectoryName(input)!, request.Recipe.Output.Replace("{name}", Path.GetFileNameWithoutExtension(input), StringComparison.Ordinal)));
    }

    public static CompressionResult Run(CompressionRequest request, ICompressionLog log, CancellationToken cancellation = default)
    {
        var clock = Stopwatch.StartNew();
        var started = DateTimeOffset.UtcNow;
        var recipe = request.Recipe;
        var input = Path.GetFullPath(request.ModelPath);
        var output = OutputPathFor(request);
        if (SafePathSame(input, output))
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.OutputIsInput, "The output path is the input model itself; the input is never overwritten.", output));
        }

        if (File.Exists(output) && !request.Force)
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.OutputExists, "The output file already exists; pass -Force to replace it.", output));
        }

        var model = ModelLoader.Load(input);
        var dataSets = recipe.Data.ToDictionary(d => d.Key, d => DataSourceFactory.Create(d.Value with { Name = d.Value.Name ?? d.Key }, recipe.BaseDirectory));
        var inputMacs = MacCounter.Count(model.Proto); // before the steps: some edit the graph in place
        (model, var steps) = RunSteps(input, model, recipe, dataSets, log, cancellation);

        // The candidate is evaluated from a temporary file (ONNX Runtime loads files), then saved for real.
        var scratch = Directory.CreateTempSubdirectory("compression-");
        try
        {
            var candidatePath = Path.Combine(scratch.FullName, Path.GetFileName(output));
            ModelWriter.Save(model, candidatePath);
            var inputSize = model.Path is null ? new FileInfo(input).Length : ModelLoader.Load(input, LoadOptions.MetadataOnly).SizeOnDisk;

            EvaluationReport? evaluation = null;
            if (recipe.Evaluate is { } evaluate)
            {
                log.Verbose($"Evaluating on '{evaluate.Data}'");
                evaluation = Evaluator.Evaluate(input, candidatePath, dataSets[evaluate.Data], evaluate.ToOptions(), log, cancellation);
                if (evaluation.SyntheticData)
                {
                    log.Report(Diagnostic.Warning(ErrorCodes.MetricNotApplicable, $"The data set '{evaluate.Data}' is random: fidelity figures hold for random inputs only.", recipe.File));
                }
                else if (FidelityAdvice.For(evaluation, steps, input) is { } advice)
                {
                    log.Report(advice);
                }
            }

            // The size gate judges the file as it will be written, metadata summary included.
            var outputMacs = MacCounter.Count(model.Proto);
            var summary = new ReportSummary(input, output, inputSize, OutputSize: 0, inputMacs, outputMacs, steps, evaluation, [], recipe);
            ReportWriter.StampMetadata(model, summary);
            var stampedPath = Path.Combine(scratch.FullName, "stamped-" + Path.GetFileName(output));
            ModelWriter.Save(model, stampedPath);
            var outputSize = ModelLoader.Load(stampedPath, LoadOptions.MetadataOnly).SizeOnDisk;

            var gates = Gates.Check(recipe.Gates, inputSize, outputSize, inputMacs, outputMacs, evaluation);
            var diagnostics = gates.Where(g => !g.Passed)
                .Select(g => Diagnostic.Error(ErrorCodes.GateFailed, g.Message, recipe.File))
                .ToList();
            var write = diagnostics.Count == 0 || recipe.Gates.WriteOnFailure;
            if (write)
            {
                ModelWriter.Save(model, output, new SaveOptions { Overwrite = true });
            }

            summary = summary with { OutputSize = outputSize, Gates = gates };
            var reportPath = ReportWriter.Write(summary, output + ".report.json", started, clock.Elapsed, written: write);
            return new CompressionResult
            {
                InputPath = input,
                OutputPath = write ? output : null,
                InputSizeBytes = inputSize,
                OutputSizeBytes = outputSize,
                InputMacs = inputMacs,
                OutputMacs = outputMacs,
                Steps = steps,
                Evaluation = evaluation,
                Gates = gates,
                ReportPath = reportPath,
                Duration = clock.Elapsed,
                Diagnostics = diagnostics,
            };
        }
        finally
        {
            scratch.Delete(recursive: true);
        }
    }

    /// <summary>
    /// Runs a recipe's steps on the loaded <paramref name="input"/> model: each timed, checked with GraphChecker and
    /// logged. Steps that evaluate intermediate models (an iterative schedule) use the recipe's evaluate section.
    /// </summary>
    public static (OnnxModel Model, IReadOnlyList<StepSummary> Steps) RunSteps(string input, OnnxModel model, Recipe recipe, IReadOnlyDictionary<string, IDataSource> dataSets,
        ICompressionLog log, CancellationToken cancellation = default)
    {
        var context = new PassContext(log, cancellation)
        {
            DataSets = dataSets,
            EvaluateCandidate = recipe.Evaluate is { } check ? candidate => EvaluateCandidate(input, candidate, dataSets[check.Data], check, log, cancellation) : null,
        };
        var steps = new List<StepSummary>();
        for (var i = 0; i < recipe.Steps.Count; i++)
        {
            cancellation.ThrowIfCancellationRequested();
            var step = recipe.Steps[i];
            log.Progress("Compressing", $"Step {i + 1} of {recipe.Steps.Count}: {step.Pass.Name}", (double)i / Math.Max(1, recipe.Steps.Count));
            log.Verbose($"Step {i + 1}: {step.Pass.Name}");
            var watch = Stopwatch.StartNew();
            var result = step.Pass.Run(model, step.Options, context);
            var problems = GraphChecker.Check(result.Model).Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
            if (problems.Count > 0)
            {
                throw new CompressionException(problems.Select(p => p with { Message = $"After step '{step.Pass.Name}': {p.Message}" }).ToList());
            }

            model = result.Model;
            steps.Add(new StepSummary(step.Pass.Name, ReportWriter.OptionsOf(step.Options), watch.Elapsed.TotalSeconds, result.Result));
            log.Verbose($"Step {i + 1}: {step.Pass.Name} done in {watch.Elapsed.TotalSeconds:0.00} s ({result.Result})");
        }

        return (model, steps);
    }

    /// <summary>
    /// Saves a step's intermediate model to a scratch file and evaluates it against the input (its size on disk, and
    /// its latency when the evaluate section asks for latency, so a schedule's stop_when can read both).
    /// </summary>
    private static EvaluationReport EvaluateCandidate(string input, OnnxModel candidate, IDataSource data, EvaluateSpec evaluate, ICompressionLog log, CancellationToken cancellation)
    {
        var scratch = Directory.CreateTempSubdirectory("compression-step-");
        try
        {
            var path = Path.Combine(scratch.FullName, "candidate.onnx");
            ModelWriter.Save(candidate, path);
            return Evaluator.Evaluate(input, path, data, evaluate.ToOptions(), log, cancellation);
        }
        finally
        {
            scratch.Delete(recursive: true);
        }
    }

    private static bool SafePathSame(string a, string b) => File.Exists(a) && File.Exists(b)
        ? SafePath.SameFile(a, b)
        : string.Equals(a, b, OperatingSystem.IsLinux() ? StringComparison.Ordinal : StringComparison.OrdinalIgnoreCase);
}
