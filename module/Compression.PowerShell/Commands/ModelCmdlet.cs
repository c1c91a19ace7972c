using System.Management.Automation;
using Compression.Core.Diagnostics;

namespace Compression.PowerShell.Commands;

/// <summary>
/// What every cmdlet that takes models shares: <c>-Path</c> (wildcards, pipeline by value) and <c>-LiteralPath</c>
/// (pipeline by property name, so <c>Get-ChildItem *.onnx | ...</c> works), resolved to file-system paths.
/// </summary>
public abstract class ModelCmdlet : CompressionCmdlet
{

    protected const string PathSet = "Path";
    protected const string LiteralPathSet = "LiteralPath";

    [Parameter(Mandatory = true, Position = 0, ParameterSetName = PathSet, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [SupportsWildcards]
    public string[] Path { get; set; } = [];

    [Parameter(Mandatory = true, ParameterSetName = LiteralPathSet, ValueFromPipelineByPropertyName = true)]
    [Alias("PSPath", "LP")]
    [ValidateNotNullOrEmpty]
    public string[] LiteralPath { get; set; } = [];

    /// <summary>
    /// The resolved models, when <paramref name="outputPath"/> (a parameter that names one output file) is set only
    /// for one: several models with it stop the cmdlet with CMP5003.
    /// </summary>
    protected List<string> ResolveInputPaths(string? outputPath, string parameter)
    {
        var inputs = ResolveInputPaths().ToList();
        if (outputPath is not null && inputs.Count > 1)
        {
            ThrowTerminatingError(new ErrorRecord(new ArgumentException($"{parameter} names one file; give one model, or let the default names name each result."),
                ErrorCodes.HostOutputPathForManyInputs, ErrorCategory.InvalidArgument, outputPath));
        }

        return inputs;
    }

    /// <summary>The file-system paths the user named; writes an error for each name that resolves to nothing.</summary>
    protected IEnumerable<string> ResolveInputPaths()
    {
        if (ParameterSetName == LiteralPathSet)
        {
            foreach (var literal in LiteralPath)
            {
                yield return SessionState.Path.GetUnresolvedProviderPathFromPSPath(literal);
            }

            yield break;
        }

        foreach (var pattern in Path)
        {
            List<string> resolved;
            try
            {
                resolved = [.. SessionState.Path.GetResolvedProviderPathFromPSPath(pattern, out var provider)];
                if (provider.Name != "FileSystem")
                {
                    WriteError(new ErrorRecord(new ArgumentException($"'{pattern}' is not a file-system path."),
                        ErrorCodes.HostNotFileSystem, ErrorCategory.InvalidArgument, pattern));
                    continue;
                }
            }
            catch (ItemNotFoundException e)
            {
                WriteError(new ErrorRecord(e, ErrorCodes.HostPathNotFound, ErrorCategory.ObjectNotFound, pattern));
                continue;
            }

            if (resolved.Count == 0)
            {
                WriteError(new ErrorRecord(new ItemNotFoundException($"Cannot find any file matching '{pattern}'."),
                    ErrorCodes.HostPathNotFound, ErrorCategory.ObjectNotFound, pattern));
            }

            foreach (var path in resolved)
            {
                yield return path;
            }
        }
    }
}

/// <summary>
/// The base of every cmdlet: the engine's log as the cmdlet's streams, Ctrl+C as cancellation, and the engine's
/// failures written as ErrorRecords whose id is the <c>CMP####</c> code (CMP5010 for an exception it did not expect).
/// </summary>
public abstract class CompressionCmdlet : PSCmdlet
{
    private readonly CancellationTokenSource stopping = new();

    /// <summary>Cancelled by Ctrl+C; the engine stops at the next batch or step and removes its temp files.</summary>
    protected CancellationToken Cancellation => stopping.Token;

    /// <summary>The engine's log, written as this cmdlet's verbose, warning and progress streams.</summary>
    protected ICompressionLog Log => new CmdletLog(this);

    protected override void StopProcessing() => stopping.Cancel();

    /// <summary>A path the user gave for something other than the models (a recipe, data, an output), resolved.</summary>
    protected string ResolveOtherPath(string path) => SessionState.Path.GetUnresolvedProviderPathFromPSPath(path);

    /// <summary>
    /// Does the work on one model (<paramref name="target"/>). A failure is written as errors about it and the next
    /// model still runs: a CompressionException as its diagnostics, any other exception as one CMP5010 error (its
    /// stack in the verbose stream). Ctrl+C stops the pipeline.
    /// </summary>
    protected void Process(object target, Action work)
    {
        try
        {
            work();
        }
        catch (Exception e) when (IsEngineFailure(e))
        {
            WriteDiagnostics(Diagnose(e, target), target);
        }
    }

    /// <summary>
    /// Prepares what every model needs (the recipe, the step's options); a failure stops the cmdlet with its
    /// diagnostics, or CMP5010 for an exception the engine did not expect.
    /// </summary>
    protected T Prepare<T>(object target, Func<T> work)
    {
        try
        {
            return work();
        }
        catch (Exception e) when (IsEngineFailure(e))
        {
            ThrowDiagnostics(Diagnose(e, target), target);
            throw; // not reached: ThrowDiagnostics ends with ThrowTerminatingError
        }
    }

    /// <summary>Writes each diagnostic of a failure as a non-terminating error about <paramref name="target"/>.</summary>
    protected void WriteDiagnostics(CompressionException exception, object target)
    {
        foreach (var diagnostic in exception.Diagnostics)
        {
            if (diagnostic.Severity == DiagnosticSeverity.Error)
            {
                WriteError(Record(diagnostic, exception, target));
            }
            else
            {
                WriteWarning(Text(diagnostic));
            }
        }
    }

    /// <summary>Stops the cmdlet with the diagnostics of an input that makes all further work pointless (a bad recipe).</summary>
    protected void ThrowDiagnostics(CompressionException exception, object target)
    {
        foreach (var diagnostic in exception.Diagnostics.Skip(1))
        {
            WriteError(Record(diagnostic, exception, target));
        }

        ThrowTerminatingError(Record(exception.Diagnostic, exception, target));
    }

    /// <summary>
    /// Whether an exception is the engine's to report. PowerShell's own pass through untouched: a stopped pipeline,
    /// <c>-ErrorAction Stop</c>, <c>Select-Object -First</c> ending the pipeline early, a terminating error already
    /// built, a provider's path error. So does a process out of memory, which has nothing left to report with.
    /// </summary>
    private static bool IsEngineFailure(Exception e) =>
        e is not RuntimeException && e.GetType().Assembly != typeof(PSCmdlet).Assembly && Cause(e) is not OutOfMemoryException;

    /// <summary>
    /// The failure as diagnostics: the engine's own, or CMP5010 on one line naming the exception's type and message,
    /// the stack in the verbose stream only (for a bug report). The engine stopping for Ctrl+C stops the pipeline.
    /// </summary>
    private CompressionException Diagnose(Exception e, object target)
    {
        var cause = Cause(e);
        if (cause is OperationCanceledException && Cancellation.IsCancellationRequested)
        {
            throw new PipelineStoppedException();
        }

        if (cause is CompressionException own)
        {
            return own;
        }

        WriteVerbose($"{ErrorCodes.HostInternalError} on {target}: {e}");
        var message = $"{cause.GetType().Name}: {string.Join(" ", cause.Message.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))} " +
            "(Compression did not expect this: -Verbose shows the stack; see CMP5010 in docs/errors.md)";
        return new CompressionException(Diagnostic.Error(ErrorCodes.HostInternalError, message, target as string), e);
    }

    /// <summary>The exception that happened: parallel loops in the engine wrap theirs in an AggregateException.</summary>
    private static Exception Cause(Exception e) =>
        e is AggregateException aggregate && aggregate.Flatten().InnerExceptions is [var first, ..] ? first : e;

    private static ErrorRecord Record(Diagnostic diagnostic, Exception exception, object target) =>
        new(new CompressionErrorException(Text(diagnostic), exception), diagnostic.Code, Category(diagnostic.Code), target);

    /// <summary>The message with where it applies: <c>file(line,column): message</c>, or <c>file: message</c>.</summary>
    private static string Text(Diagnostic diagnostic) => diagnostic switch
    {
        { File: null } => diagnostic.Message,
        { Line: null } => $"{diagnostic.File}: {diagnostic.Message}",
        _ => $"{diagnostic.File}({diagnostic.Line},{diagnostic.Column}): {diagnostic.Message}",
    };

    private static ErrorCategory Category(string code) => code switch
    {
        ErrorCodes.GateFailed => ErrorCategory.LimitsExceeded,
        _ when code.StartsWith("CMP1", StringComparison.Ordinal) => ErrorCategory.InvalidData,
        ErrorCodes.ModelNotFound or ErrorCodes.ExternalDataMissing => ErrorCategory.ObjectNotFound,
        ErrorCodes.ModelPathIsDirectory => ErrorCategory.InvalidArgument,
        ErrorCodes.ExternalDataUnsafeLocation => ErrorCategory.SecurityError,
        ErrorCodes.ReadFailed => ErrorCategory.ReadError,
        ErrorCodes.WriteFailed => ErrorCategory.WriteError,
        ErrorCodes.OutputExists or ErrorCodes.OutputIsInput => ErrorCategory.ResourceExists,
        ErrorCodes.HostInternalError => ErrorCategory.NotSpecified,
        _ => ErrorCategory.InvalidData,
    };
}

/// <summary>The exception inside a Compression ErrorRecord: the engine's message, with the path, and no stack noise.</summary>
public sealed class CompressionErrorException(string message, Exception inner) : Exception(message, inner);
