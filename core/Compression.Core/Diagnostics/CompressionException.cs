namespace Compression.Core.Diagnostics;

/// <summary>
/// Thrown when the user's input cannot be processed. Carries one or more diagnostics; hosts render them
/// (the cmdlet as ErrorRecords with the code as errorId, the task as MSBuild errors) instead of the stack.
/// </summary>
public sealed class CompressionException : Exception
{
    public CompressionException(Diagnostic diagnostic, Exception? inner = null)
        : base(diagnostic.Message, inner)
    {
        Diagnostics = [diagnostic];
    }

    public CompressionException(IReadOnlyList<Diagnostic> diagnostics)
        : base(diagnostics.Count == 0 ? "Unknown error." : diagnostics[0].Message)
    {
        if (diagnostics.Count == 0)
        {
            throw new ArgumentException("At least one diagnostic is required.", nameof(diagnostics));
        }

        Diagnostics = diagnostics;
    }

    public IReadOnlyList<Diagnostic> Diagnostics { get; }

    /// <summary>The first diagnostic: the one to show when only one fits.</summary>
    public Diagnostic Diagnostic => Diagnostics[0];

    public string Code => Diagnostic.Code;

    public override string ToString() => string.Join(Environment.NewLine, Diagnostics);
}
