using System.Management.Automation;
using Compression.Core.Evaluation;

namespace Compression.PowerShell.Commands;

/// <summary>Compares a model with a reference on the same data: task metrics of both and fidelity per output.</summary>
[Cmdlet(VerbsData.Compare, "Model")]
[OutputType("Compression.Core.Evaluation.EvaluationReport")]
public sealed class CompareModelCommand : CompressionCmdlet, IDataParameters
{
    [Parameter(Mandatory = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(DataSetNameCompleter))]
    public string Data { get; set; } = "";

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Recipe { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Labels { get; set; }

    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int Take { get; set; } = int.MaxValue;

    [Parameter]
    [ValidateRange(1, 100_000)]
    public int BatchSize { get; set; } = 32;

    [Parameter]
    [ValidateRange(1, 1024)]
    public int Threads { get; set; } = 1;

    [Parameter]
    public SwitchParameter Latency { get; set; }

    [Parameter]
    [ValidateSet("accuracy", "top_k", "spearman", "pearson", "agreement", "cosine", "mse", "sqnr", "max_error", "latency")]
    public string[] Metric { get; set; } = [];

    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    public string Reference { get; set; } = "";

    [Parameter(Mandatory = true, Position = 1, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("OutputPath", "FullName")]
    [ValidateNotNullOrEmpty]
    public string Difference { get; set; } = "";

    protected override void ProcessRecord()
    {
        var reference = ResolveOtherPath(Reference);
        var difference = ResolveOtherPath(Difference);
        Process(difference, () =>
            WriteObject(Evaluator.Evaluate(reference, difference, DataParameters.Open(this, ResolveOtherPath), DataParameters.Options(this), Log, Cancellation)));
    }
}
