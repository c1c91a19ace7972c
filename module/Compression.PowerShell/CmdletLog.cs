using System.Management.Automation;
using Compression.Core.Diagnostics;

namespace Compression.PowerShell;

/// <summary>The engine's log as a cmdlet's streams: warnings, -Verbose lines and Write-Progress.</summary>
internal sealed class CmdletLog(Cmdlet cmdlet) : ICompressionLog
{
    private const int ActivityId = 0x0C0C;

    public void Report(Diagnostic diagnostic)
    {
        if (diagnostic.Severity == DiagnosticSeverity.Error)
        {
            cmdlet.WriteError(new ErrorRecord(new InvalidOperationException(diagnostic.ToString()), diagnostic.Code, ErrorCategory.InvalidData, diagnostic.File));
        }
        else if (diagnostic.Severity == DiagnosticSeverity.Warning)
        {
            cmdlet.WriteWarning(diagnostic.ToString());
        }
        else
        {
            cmdlet.WriteVerbose(diagnostic.ToString());
        }
    }

    public void Verbose(string message) => cmdlet.WriteVerbose(message);

    public void Progress(string activity, string status, double? fraction = null) =>
        cmdlet.WriteProgress(new ProgressRecord(ActivityId, activity, status) { PercentComplete = fraction is { } f ? (int)Math.Clamp(f * 100, 0, 100) : -1 });
}
