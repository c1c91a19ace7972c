using System.Management.Automation;
using Compression.Core.Recipes;

namespace Compression.PowerShell.Commands;

/// <summary>
/// The cmdlets that run a recipe file on models (<c>Invoke-ModelCompression</c>, <c>Find-ModelCompression</c>):
/// <c>-Recipe</c>, read once before the first model (a bad recipe stops the cmdlet with every problem at once),
/// <c>-OutputPath</c> and <c>-Force</c>.
/// </summary>
public abstract class RecipeCmdlet : ModelCmdlet
{
    [Parameter(Mandatory = true)]
    [ValidateNotNullOrEmpty]
    public string Recipe { get; set; } = "";

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? OutputPath { get; set; }

    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>The recipe, read by <see cref="BeginProcessing"/>.</summary>
    protected Recipe LoadedRecipe { get; private set; } = null!;

    protected override void BeginProcessing()
    {
        var recipePath = ResolveOtherPath(Recipe);
        LoadedRecipe = Prepare(recipePath, () => RecipeParser.Load(recipePath, new CmdletLog(this)));
    }
}
