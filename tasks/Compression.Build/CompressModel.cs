using System.Collections.Concurrent;
using System.Globalization;
using Compression.Core.Diagnostics;
using Compression.Core.Evaluation;
using Compression.Core.Pipeline;
using Compression.Core.Recipes;
using Compression.Core.Search;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

namespace Compression.Build;

/// <summary>
/// Compresses, verifies and gates the project's <c>CompressModel</c> items with their recipes: the same pipeline as
/// <c>Invoke-ModelCompression</c>. Models whose output is newer than every input are skipped; the others run in
/// parallel (bounded), and the log reads the same whatever the order they finish in. A recipe with a <c>search</c>
/// section runs the search (as <c>Find-ModelCompression</c>) and writes the chosen model.
/// </summary>
public sealed class CompressModel : CompressionTask
{
    /// <summary>A folder for the JSON reports; beside each output when empty.</summary>
    public string? ReportDirectory { get; set; }

    /// <summary>False turns failed gates into warnings.</summary>
    public bool FailOnGate { get; set; } = true;

    /// <summary>Models compressed at once; 0 for the processor count.</summary>
    public int MaxParallelism { get; set; }

    /// <summary>The compressed models, with <c>TargetPath</c> (relative path in the output) and <c>Report</c> metadata.</summary>
    [Output]
    public ITaskItem[] CompressedModels { get; set; } = [];

    private protected override void Run()
    {
        var jobs = Jobs().ToList();
        var outcomes = new ConcurrentDictionary<int, Outcome>();
        var parallelism = MaxParallelism > 0 ? MaxParallelism : Environment.ProcessorCount;
        Parallel.For(0, jobs.Count, new ParallelOptions { MaxDegreeOfParallelism = parallelism }, i => outcomes[i] = Compress(jobs[i]));

        var compressed = new List<ITaskItem>();
        for (var i = 0; i < jobs.Count; i++)
        {
            var job = jobs[i];
            var outcome = outcomes[i];
            foreach (var line in outcome.Verbose)
            {
                Log.LogMessage(MessageImportance.Low, line);
            }

            foreach (var diagnostic in outcome.Diagnostics)
            {
                LogDiagnostic(diagnostic, job.Model);
            }

            if (outcome.Summary is not null)
            {
                Log.LogMessage(MessageImportance.Normal, outcome.Summary);
            }

            if (File.Exists(job.Output))
            {
                if (job.Problem is null && outcome.Diagnostics.Any(d => d.Severity == DiagnosticSeverity.Error))
                {
                    // Kept, as the error may have come after it was written (from the report), but dated back: the next
                    // build compresses the model again instead of finding it up to date and passing.
                    File.SetLastWriteTimeUtc(job.Output, DateTime.UnixEpoch);
                }

                var item = new TaskItem(job.Output);
                item.SetMetadata("TargetPath", job.TargetPath);
                item.SetMetadata("Report", job.Output + ".report.json");
                item.SetMetadata("SourceModel", job.Model);
                compressed.Add(item);
            }
        }

        CompressedModels = [.. compressed];
    }

    private Outcome Compress(CompressionJob job)
    {
        var log = new BufferedLog();
        try
        {
            if (job.Problem is { } problem)
            {
                return new Outcome([problem], [], null);
            }

            var recipe = RecipeParser.Load(job.Recipe, log);
            if (IsUpToDate(job))
            {
                return new Outcome([], [$"{job.Relative}: up to date"], null);
            }

            CompressionResult result;
            string? searched = null;
            if (recipe.Search is not null)
            {
                // The journal sits beside the output under obj/, so a build stopped half-way resumes where it was.
                var search = SearchRunner.Run(new SearchRequest(job.Model, recipe) { OutputPath = job.Output, Force = true }, log);
                if (search.Final is null)
                {
                    return new Outcome(log.Diagnostics, log.Lines, null);
                }

                result = search.Final;
                searched = $"search chose trial {search.Chosen!.Number} of {search.Trials.Count} ({search.Resumed} from the journal); ";
            }
            else
            {
                result = CompressionPipeline.Run(new CompressionRequest(job.Model, recipe) { OutputPath = job.Output, Force = true }, log);
            }

            MoveReport(result);
            var gateDiagnostics = result.Diagnostics.Select(d => d with
            {
                Severity = FailOnGate ? DiagnosticSeverity.Error : DiagnosticSeverity.Warning,
                Message = $"{job.Relative}: {d.Message}",
            });
            return new Outcome([.. log.Diagnostics, .. gateDiagnostics], log.Lines, Summarize(job, result, searched));
        }
        catch (Exception e) when (IsReportable(e))
        {
            var (diagnostics, stack) = Diagnose(e, job.Model);
            return new Outcome([.. log.Diagnostics, .. diagnostics], stack is null ? log.Lines : [.. log.Lines, stack], null);
        }
    }

    /// <summary>
    /// Up to date when the output is newer than the model, the recipe, the files they refer to (external data, data
    /// sets) and this task's assembly; not when those cannot be listed, so the run reports why.
    /// </summary>
    private static bool IsUpToDate(CompressionJob job)
    {
        if (!File.Exists(job.Output) || job.ReferencedFiles() is not { } referenced)
        {
            return false;
        }

        var built = File.GetLastWriteTimeUtc(job.Output);
        var inputs = new[] { job.Model, job.Recipe, typeof(CompressModel).Assembly.Location }.Concat(referenced);
        return inputs.All(input => File.GetLastWriteTimeUtc(input) <= built);
    }

    private void MoveReport(CompressionResult result)
    {
        if (string.IsNullOrEmpty(ReportDirectory) || result.ReportPath is null)
        {
            return;
        }

        Directory.CreateDirectory(ReportDirectory);
        File.Move(result.ReportPath, Path.Combine(ReportDirectory, Path.GetFileName(result.ReportPath)), overwrite: true);
    }

    private static string Summarize(CompressionJob job, CompressionResult result, string? searched)
    {
        var text = new System.Text.StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"Compression: {job.Relative}: {searched}{Size(result.InputSizeBytes)} -> {Size(result.OutputSizeBytes)} ({result.SizeRatio:0.0 %})");
        if (result.Evaluation is { Candidate: not null } evaluation)
        {
            // The task metric before and after, else the fidelity figure that fits the outputs (see OutputRoles).
            text.Append(CultureInfo.InvariantCulture, $"; {evaluation.Headline}");
        }

        var failed = result.Gates.Count(g => !g.Passed);
        text.Append(result.Gates.Count == 0 ? "; no gates" : failed == 0 ? $"; gates: {result.Gates.Count} passed" : $"; gates: {failed} of {result.Gates.Count} failed");
        return text.ToString();
    }

    private static string Size(long bytes) => bytes switch
    {
        >= 1 << 20 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1048576.0:0.0} MB"),
        >= 1 << 10 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:0.0} KB"),
        _ => $"{bytes} B",
    };

    private sealed record Outcome(IReadOnlyList<Diagnostic> Diagnostics, IReadOnlyList<string> Verbose, string? Summary);

    /// <summary>The engine's log kept per model, so parallel models log in item order.</summary>
    private sealed class BufferedLog : ICompressionLog
    {
        public List<Diagnostic> Diagnostics { get; } = [];

        public List<string> Lines { get; } = [];

        public void Report(Diagnostic diagnostic) => Diagnostics.Add(diagnostic);

        public void Verbose(string message) => Lines.Add(message);

        public void Progress(string activity, string status, double? fraction = null)
        {
        }
    }
}
