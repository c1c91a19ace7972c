using System.Management.Automation;
using Compression.Core.Diagnostics;
using Compression.Core.Pipeline;

namespace Compression.PowerShell.Commands;

/// <summary>Compresses models with a recipe: steps, evaluation against the original, gates, report.</summary>
[Cmdlet(VerbsLifecycle.Invoke, "ModelCompression", DefaultParameterSetName = PathSet, SupportsShouldProcess = true)]
[OutputType("Compression.Core.Pipeline.CompressionResult")]
public sealed class InvokeModelCompressionCommand : RecipeCmdlet
{
    protected override void ProcessRecord()
    {
        var inputs = ResolveInputPaths(OutputPath, "-OutputPath");
        foreach (var input in inputs)
        {
            Process(input, () =>
            {
                var request = new CompressionRequest(input, LoadedRecipe) { OutputPath = OutputPath is null ? null : ResolveOtherPath(OutputPath), Force = Force };
                var plan = CompressionPipeline.Plan(request);
                var action = $"Compress {plan.InputPath} with steps [{string.Join(", ", plan.Steps)}]" +
                    (plan.EvaluationData is null ? "" : $", evaluated on '{plan.EvaluationData}'") + ", and write the result";
                if (!ShouldProcess(plan.OutputPath, action))
                {
                    return;
                }

                var result = CompressionPipeline.Run(request, Log, Cancellation);
                foreach (var diagnostic in result.Diagnostics)
                {
                    WriteError(new ErrorRecord(new CompressionErrorException(diagnostic.Message, new InvalidOperationException(diagnostic.ToString())),
                        diagnostic.Code, ErrorCategory.LimitsExceeded, input));
                }

                WriteObject(result);
            });
        }
    }
}
