namespace Compression.Core.Diagnostics;

/// <summary>
/// The one sink through which the engine talks to its host while it works: warnings and other diagnostics,
/// verbose lines, and progress. The cmdlets write them as warnings, -Verbose output and Write-Progress; the
/// MSBuild task as warnings and low-importance messages.
/// </summary>
public interface ICompressionLog
{
    void Report(Diagnostic diagnostic);

    void Verbose(string message);

    /// <summary>Progress of an activity; <paramref name="fraction"/> in [0, 1] when known.</summary>
    void Progress(string activity, string status, double? fraction = null);
}

/// <summary>A log that keeps diagnostics and drops the rest: for tests and callers that only want the result.</summary>
public sealed class CollectingLog : ICompressionLog
{
    private readonly List<Diagnostic> diagnostics = [];

    public IReadOnlyList<Diagnostic> Diagnostics => diagnostics;

    public List<string> VerboseLines { get; } = [];

    public void Report(Diagnostic diagnostic) => diagnostics.Add(diagnostic);

    public void Verbose(string message) => VerboseLines.Add(message);

    public void Progress(string activity, string status, double? fraction = null)
    {
    }
}
