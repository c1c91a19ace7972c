using Compression.Core.Diagnostics;
using Microsoft.Build.Framework;

namespace Compression.Build;

/// <summary>
/// What the compression tasks share: the CompressModel items, where their outputs go, and how a failure is logged
/// (one catch, so no exception reaches MSBuild as a stack dump).
/// </summary>
public abstract class CompressionTask : Microsoft.Build.Utilities.Task
{
    /// <summary>The models; metadata <c>Recipe</c> (required) and <c>OutputPath</c> (relative to the output directory).</summary>
    [Required]
    public ITaskItem[] Models { get; set; } = [];

    [Required]
    public string ProjectDirectory { get; set; } = "";

    /// <summary>Where compressed models are written (the project's intermediate folder); they are copied to the output from there.</summary>
    [Required]
    public string OutputDirectory { get; set; } = "";

    public sealed override bool Execute()
    {
        try
        {
            Run();
        }
        catch (Exception e) when (IsReportable(e))
        {
            var (diagnostics, stack) = Diagnose(e, BuildEngine.ProjectFileOfTaskNode);
            if (stack is not null)
            {
                Log.LogMessage(MessageImportance.Low, stack);
            }

            foreach (var diagnostic in diagnostics)
            {
                LogDiagnostic(diagnostic, BuildEngine.ProjectFileOfTaskNode);
            }
        }

        return !Log.HasLoggedErrors;
    }

    /// <summary>The task's work; what goes wrong with one model is that model's errors, not an exception.</summary>
    private protected abstract void Run();

    /// <summary>Each item resolved to its model, recipe and output paths.</summary>
    private protected IEnumerable<CompressionJob> Jobs() => Models.Select(CompressionJob.From(ProjectDirectory, OutputDirectory));

    /// <summary>Whether to log an exception: a process out of memory is left to MSBuild, it has nothing left to report with.</summary>
    private protected static bool IsReportable(Exception e) => Cause(e) is not OutOfMemoryException;

    /// <summary>
    /// An exception as the errors to log about <paramref name="file"/>: a CompressionException's diagnostics, any
    /// other one CMP5010 on one line naming its type and message, with the stack for <c>-v:detailed</c> only.
    /// </summary>
    private protected static (IReadOnlyList<Diagnostic> Diagnostics, string? Stack) Diagnose(Exception e, string file)
    {
        var cause = Cause(e);
        if (cause is CompressionException own)
        {
            return (own.Diagnostics, null);
        }

        var message = $"{cause.GetType().Name}: {string.Join(" ", cause.Message.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))} " +
            "(Compression did not expect this: -v:detailed shows the stack; see CMP5010 in docs/errors.md)";
        return ([Diagnostic.Error(ErrorCodes.HostInternalError, message, file)], $"{ErrorCodes.HostInternalError} on {file}: {e}");
    }

    /// <summary>A diagnostic as an MSBuild error or warning with its code and, for recipes, the line and column.</summary>
    private protected void LogDiagnostic(Diagnostic diagnostic, string file)
    {
        file = diagnostic.File ?? file;
        if (diagnostic.Severity == DiagnosticSeverity.Error)
        {
            Log.LogError(null, diagnostic.Code, null, file, diagnostic.Line ?? 0, diagnostic.Column ?? 0, 0, 0, diagnostic.Message);
        }
        else if (diagnostic.Severity == DiagnosticSeverity.Warning)
        {
            Log.LogWarning(null, diagnostic.Code, null, file, diagnostic.Line ?? 0, diagnostic.Column ?? 0, 0, 0, diagnostic.Message);
        }
        else
        {
            Log.LogMessage(MessageImportance.Low, diagnostic.ToString());
        }
    }

    /// <summary>The exception that happened: parallel loops wrap theirs in an AggregateException.</summary>
    private static Exception Cause(Exception e) =>
        e is AggregateException aggregate && aggregate.Flatten().InnerExceptions is [var first, ..] ? first : e;
}
