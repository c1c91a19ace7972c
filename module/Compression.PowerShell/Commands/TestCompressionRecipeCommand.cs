using System.Management.Automation;
using Compression.Core.Recipes;

namespace Compression.PowerShell.Commands;

/// <summary>Validates recipes without running them; returns their diagnostics (nothing when they are valid).</summary>
[Cmdlet(VerbsDiagnostic.Test, "CompressionRecipe", DefaultParameterSetName = PathSet)]
[OutputType("Compression.Core.Diagnostics.Diagnostic")]
public sealed class TestCompressionRecipeCommand : ModelCmdlet
{
    protected override void ProcessRecord()
    {
        foreach (var path in ResolveInputPaths())
        {
            Process(path, () => WriteObject(RecipeParser.Validate(path).Diagnostics, enumerateCollection: true));
        }
    }
}
