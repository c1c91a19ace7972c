using System.Management.Automation;
using Compression.Core.Recipes;

namespace Compression.PowerShell.Commands;

/// <summary>Validates a recipe without running it; returns its diagnostics (nothing when it is valid).</summary>
[Cmdlet(VerbsDiagnostic.Test, "CompressionRecipe")]
[OutputType("Compression.Core.Diagnostics.Diagnostic")]
public sealed class TestCompressionRecipeCommand : PSCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName", "PSPath")]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    protected override void ProcessRecord()
    {
        var (_, diagnostics) = RecipeParser.Validate(SessionState.Path.GetUnresolvedProviderPathFromPSPath(Path));
        WriteObject(diagnostics, enumerateCollection: true);
    }
}
