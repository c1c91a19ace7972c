using System.Management.Automation;
using Compression.Core.Evaluation;

namespace Compression.PowerShell.Commands;

/// <summary>Measures a model on data with ONNX Runtime: accuracy or similarity correlations, size, latency.</summary>
[Cmdlet(VerbsDiagnostic.Measure, "Model", DefaultParameterSetName = PathSet)]
[OutputType("Compression.Core.Evaluation.ModelMeasurement")]
public sealed class MeasureModelCommand : ModelCmdlet, IDataParameters
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

    protected override void ProcessRecord()
    {
        foreach (var path in ResolveInputPaths())
        {
            Process(path, () =>
                WriteObject(Evaluator.Evaluate(path, null, DataParameters.Open(this, ResolveOtherPath), DataParameters.Options(this), Log, Cancellation).Reference));
        }
    }
}
