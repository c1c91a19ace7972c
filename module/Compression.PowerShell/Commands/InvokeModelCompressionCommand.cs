using System.Management.Automation;
using Compression.Core.Diagnostics;
using Compression.Core.Pipeline;
using Compression.Core.Recipes;

namespace Compression.PowerShell.Commands;

/// <summary>Compresses models with a recipe: steps, evaluation against the original, gates, report.</summary>
[Cmdlet(VerbsLifecycle.Invoke, "ModelCompression", DefaultParameterSetName = PathSet, SupportsShouldProcess = true)]
[OutputType("Compression.Core.Pipeline.CompressionResult")]
public sealed class InvokeModelCompressionCommand : ModelCmdlet
{
    private Recipe? recipe;

    [Parameter(Mandatory = true)]
    [ValidateNotNullOrEmpty]
    public string Recipe { get; set; } = "";

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? OutputPath { get; set; }

    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void BeginProcessing()
    {
        var recipePath = ResolveOtherPath(Recipe);
        try
        {
            recipe = RecipeParser.Load(recipePath);
        }
        catch (CompressionException e)
        {
            ThrowDiagnostics(e, recipePath);
        }
    }

    protected override void ProcessRecord()
    {
        var inputs = ResolveInputPaths().ToList();
        if (OutputPath is not null && inputs.Count > 1)
        {
            ThrowTerminatingError(new ErrorRecord(new ArgumentException("-OutputPath names one file; give one model, or let the recipe's output name each result."),
                ErrorCodes.HostOutputPathForManyInputs, ErrorCategory.InvalidArgument, OutputPath));
        }

        foreach (var input in inputs)
        {
            var request = new CompressionRequest(input, recipe!) { OutputPath = OutputPath is null ? null : ResolveOtherPath(OutputPath), Force = Force };
            var plan = CompressionPipeline.Plan(request);
            var action = $"Compress {plan.InputPath} with steps [{string.Join(", ", plan.Steps)}]" +
                (plan.EvaluationData is null ? "" : $", evaluated on '{plan.EvaluationData}'") + ", and write the result";
            if (!ShouldProcess(plan.OutputPath, action))
            {
                continue;
            }

            try
            {
                var result = CompressionPipeline.Run(request, Log, Cancellation);
                foreach (var diagnostic in result.Diagnostics)
                {
                    WriteError(new ErrorRecord(new CompressionErrorException(diagnostic.Message, new InvalidOperationException(diagnostic.ToString())),
                        diagnostic.Code, ErrorCategory.LimitsExceeded, input));
                }

                WriteObject(result);
            }
            catch (CompressionException e)
            {
                WriteDiagnostics(e, input);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}
