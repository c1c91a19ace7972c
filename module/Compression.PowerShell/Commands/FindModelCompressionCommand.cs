using System.Management.Automation;
using Compression.Core.Recipes;
using Compression.Core.Recipes.Search;
using Compression.Core.Search;

namespace Compression.PowerShell.Commands;

/// <summary>
/// Searches a recipe's space (its <c>search</c> section) for the best model that meets its constraints: trials are
/// journaled and resumed, the Pareto front is kept, and the chosen model is written, evaluated on held-out data and gated.
/// </summary>
[Cmdlet(VerbsCommon.Find, "ModelCompression", DefaultParameterSetName = PathSet, SupportsShouldProcess = true)]
[OutputType("Compression.Core.Search.SearchResult")]
public sealed class FindModelCompressionCommand : RecipeCmdlet
{
    [Parameter]
    public int Trials { get; set; }

    [Parameter]
    [ValidateSet("Grid", "Random", "Tpe", "Evolutionary")]
    public string? Strategy { get; set; }

    [Parameter]
    [ValidateRange(1, 64)]
    public int Parallel { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? JournalPath { get; set; }

    protected override void ProcessRecord()
    {
        var inputs = ResolveInputPaths(OutputPath ?? JournalPath, OutputPath is null ? "-JournalPath" : "-OutputPath");
        foreach (var input in inputs)
        {
            Process(input, () =>
            {
                var request = new SearchRequest(input, LoadedRecipe)
                {
                    OutputPath = OutputPath is null ? null : ResolveOtherPath(OutputPath),
                    JournalPath = JournalPath is null ? null : ResolveOtherPath(JournalPath),
                    Force = Force,
                    Trials = MyInvocation.BoundParameters.ContainsKey(nameof(Trials)) ? Trials : null,
                    Strategy = Strategy is null ? null : Enum.Parse<SearchStrategy>(Strategy, ignoreCase: true),
                    Parallel = Parallel > 0 ? Parallel : null,
                };
                var plan = SearchRunner.Plan(request);
                var action = $"Search {plan} on '{plan.DataSet}' ({string.Join(", ", plan.Objectives)}; {(plan.Constraints.Count == 0 ? "no constraints" : string.Join(", ", plan.Constraints))}), " +
                    $"journal {plan.JournalPath}, and write the chosen model";
                if (ShouldProcess(plan.OutputPath, action))
                {
                    WriteObject(SearchRunner.Run(request, Log, Cancellation));
                }
            });
        }
    }
}
