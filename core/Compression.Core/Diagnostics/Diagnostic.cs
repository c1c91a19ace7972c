namespace Compression.Core.Diagnostics;

/// <summary>How bad a diagnostic is. Hosts map it to their own levels (ErrorRecord, MSBuild error/warning).</summary>
public enum DiagnosticSeverity
{
    Info,
    Warning,
    Error,
}

/// <summary>
/// One finding about the user's input, as data: a stable <c>CMP####</c> code, a message, and where it was found.
/// Line and column are 1-based and present only for text inputs such as recipes.
/// </summary>
public sealed record Diagnostic(
    string Code,
    DiagnosticSeverity Severity,
    string Message,
    string? File = null,
    int? Line = null,
    int? Column = null)
{
    public static Diagnostic Error(string code, string message, string? file = null, int? line = null, int? column = null) =>
        new(code, DiagnosticSeverity.Error, message, file, line, column);

    public static Diagnostic Warning(string code, string message, string? file = null, int? line = null, int? column = null) =>
        new(code, DiagnosticSeverity.Warning, message, file, line, column);

    /// <summary>The canonical one-line form: <c>file(line,col): error CMP1234: message</c>.</summary>
    public override string ToString()
    {
        var location = File is null ? "" : Line is null ? $"{File}: " : Column is null ? $"{File}({Line}): " : $"{File}({Line},{Column}): ";
        var severity = Severity switch
        {
            DiagnosticSeverity.Error => "error",
            DiagnosticSeverity.Warning => "warning",
            _ => "info",
        };
        return $"{location}{severity} {Code}: {Message}";
    }
}
