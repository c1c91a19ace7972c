using System.Management.Automation;
using Compression.Core.Diagnostics;

namespace Compression.PowerShell.Commands;

/// <summary>
/// What every cmdlet that takes models shares: <c>-Path</c> (wildcards, pipeline by value) and <c>-LiteralPath</c>
/// (pipeline by property name, so <c>Get-ChildItem *.onnx | ...</c> works), resolved to file-system paths, and
/// engine diagnostics written as ErrorRecords whose id is the <c>CMP####</c> code.
/// </summary>
public abstract class ModelCmdlet : PSCmdlet
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

    /// <summary>Writes each diagnostic of a failure as a non-terminating error about <paramref name="target"/>.</summary>
    protected void WriteDiagnostics(CompressionException exception, object target)
    {
        foreach (var diagnostic in exception.Diagnostics)
        {
            var message = diagnostic.File is null ? diagnostic.Message : $"{diagnostic.File}: {diagnostic.Message}";
            var record = new ErrorRecord(new CompressionErrorException(message, exception), diagnostic.Code, Category(diagnostic.Code), target);
            if (diagnostic.Line is { } line)
            {
                record.ErrorDetails = new ErrorDetails(message) { RecommendedAction = $"See line {line}, column {diagnostic.Column}." };
            }

            if (diagnostic.Severity == DiagnosticSeverity.Error)
            {
                WriteError(record);
            }
            else
            {
                WriteWarning(message);
            }
        }
    }

    private static ErrorCategory Category(string code) => code switch
    {
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
