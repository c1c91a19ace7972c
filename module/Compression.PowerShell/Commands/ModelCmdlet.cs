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
/// The base of every cmdlet: the engine's log as the cmdlet's streams, Ctrl+C as cancellation, and engine
/// diagnostics written as ErrorRecords whose id is the <c>CMP####</c> code.
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
        _ => ErrorCategory.InvalidData,
    };
}

/// <summary>The exception inside a Compression ErrorRecord: the engine's message, with the path, and no stack noise.</summary>
public sealed class CompressionErrorException(string message, Exception inner) : Exception(message, inner);
