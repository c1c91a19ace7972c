using System.Collections;
using System.Globalization;
using System.Management.Automation;
using Compression.Core.Onnx;
using Compression.Core.Passes;
using Compression.Core.Pruning;
using Compression.Core.Recipes;

namespace Compression.PowerShell.Commands;

/// <summary>
/// Prunes models (unstructured or N:M sparsity, or structured removal of channels, neurons and heads; optionally
/// reconstructed on calibration data) and checks the result
/// against the original with ONNX Runtime: the same pipeline, result and report as a one-step recipe.
/// </summary>
[Cmdlet(VerbsLifecycle.Invoke, "ModelPrune", DefaultParameterSetName = PathSet, SupportsShouldProcess = true)]
[OutputType("Compression.Core.Pipeline.CompressionResult")]
public sealed class InvokeModelPruneCommand : OneStepCmdlet
{
    [Parameter]
    public double Sparsity { get; set; } = 0.5;

    // Enum-like parameters are strings with a ValidateSet: this assembly must not hold fields of the engine's
    // value types, which PowerShell would load while it inspects the cmdlets, before the engine can resolve.
    [Parameter]
    [ValidateSet("Unstructured", "NM", "Structured")]
    public string Method { get; set; } = "Unstructured";

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string Pattern { get; set; } = "2:4";

    /// <summary>Default: OutputError (SparseGPT's choice) with -CalibrationData, L1 without.</summary>
    [Parameter]
    [ValidateSet("L1", "L2", "Fpgm", "Activation", "Apoz", "OutputError")]
    public string? Criterion { get; set; }

    [Parameter]
    [ValidateSet("Auto", "Layer", "Global")]
    public string Scope { get; set; } = "Auto";

    /// <summary>On by default when -CalibrationData is given; -Reconstruct:$false prunes by the criterion alone.</summary>
    [Parameter]
    public SwitchParameter Reconstruct { get; set; } = true;

    /// <summary>Structured: attention heads removed from every attention block.</summary>
    [Parameter]
    [ValidateRange(0, 1024)]
    public int Heads { get; set; }

    /// <summary>Structured: fraction of every MatMul/Gemm group's neurons removed (default: -Sparsity).</summary>
    [Parameter]
    [ValidateRange(0.0, 1.0)]
    public double? Neurons { get; set; }

    /// <summary>Structured: fraction of every Conv group's output channels removed (default: -Sparsity).</summary>
    [Parameter]
    [ValidateRange(0.0, 1.0)]
    public double? Channels { get; set; }

    /// <summary>Structured: also prune groups tied by residual Adds and other element-wise ops, all their layers alike.</summary>
    [Parameter]
    public SwitchParameter Coupled { get; set; }

    [Parameter]
    [ValidateNotNull]
    public string[] Exclude { get; set; } = [];

    /// <summary>
    /// Sparsity of some layers, by node name (wildcards * and ?) or op type, e.g. <c>@{ Times212 = 0.7; Conv = 0 }</c>
    /// (0 leaves them dense; structured: the fraction of their groups' units). The first matching entry wins: use
    /// <c>[ordered]@{ ... }</c> when patterns overlap.
    /// </summary>
    [Parameter]
    [ValidateNotNull]
    public IDictionary LayerSparsity { get; set; } = new Hashtable();

    protected override string StepName => "prune";

    protected override string Action => "Prune";

    protected override PassOptions BuildOptions() => new PruneOptions
    {
        Method = Parse<PruningMethod>(Method),
        Sparsity = Sparsity,
        Pattern = Pattern,
        Criterion = Parse<ImportanceCriterion>(Criterion ?? (CalibrationData is null ? "L1" : "OutputError")),
        Scope = Parse<PruningScope>(Scope),
        Exclude = Exclude,
        Layers = LayerEntries(),
        Reconstruct = Reconstruct,
        Calibration = CalibrationData is null ? null : new StepCalibrationSpec { Data = CalibrationSet },
        Structured = new Core.Pruning.Structured.StructuredPruneOptions { Heads = Heads, Neurons = Neurons, Channels = Channels, Coupled = Coupled },
    };

    private Dictionary<string, LayerPruneSpec> LayerEntries()
    {
        var layers = new Dictionary<string, LayerPruneSpec>(StringComparer.Ordinal);
        foreach (DictionaryEntry entry in LayerSparsity)
        {
            layers[LanguagePrimitives.ConvertTo<string>(entry.Key)] = new LayerPruneSpec { Sparsity = LanguagePrimitives.ConvertTo<double>(entry.Value) };
        }

        return layers;
    }

    protected override IReadOnlyList<string> Plan(string input, PassOptions options, Recipe recipe) => PrunePass.PlanLayers(ModelLoader.Load(input), (PruneOptions)options);

    /// <summary>The default output name says what was done: model.pruned50.onnx, model.pruned2of4.onnx, model.slim.onnx (structured: smaller tensors).</summary>
    protected override string Suffix() => Method switch
    {
        "Unstructured" => "pruned" + Math.Round(Sparsity * 100).ToString(CultureInfo.InvariantCulture),
        "NM" => "pruned" + Pattern.Replace(":", "of", StringComparison.Ordinal).Trim(),
        _ => "slim",
    };

    protected override string Describe() => Settings() + (LayerSparsity.Count == 0 ? ""
        : $"; own sparsity for {string.Join(", ", LayerSparsity.Keys.Cast<object>().Select(k => LanguagePrimitives.ConvertTo<string>(k)))}");

    private string Settings() => Method switch
    {
        "NM" => $"{Pattern} semi-structured, {Criterion ?? (CalibrationData is null ? "L1" : "OutputError")}{(CalibrationData is not null && Reconstruct ? ", reconstructed" : "")}",
        "Unstructured" => $"{Sparsity.ToString("P0", CultureInfo.InvariantCulture)} unstructured, {(Scope == "Auto" ? (CalibrationData is null ? "layer" : "global") : Scope.ToLowerInvariant())} scope, {Criterion ?? (CalibrationData is null ? "L1" : "OutputError")}{(CalibrationData is not null && Reconstruct ? ", reconstructed" : "")}",
        _ => $"structured: {(Neurons ?? Sparsity).ToString("P0", CultureInfo.InvariantCulture)} of neurons, {(Channels ?? Sparsity).ToString("P0", CultureInfo.InvariantCulture)} of channels, {Heads} head(s) per attention block{(Coupled ? ", residual groups too" : "")}, {Criterion ?? (CalibrationData is null ? "L1" : "OutputError")}{(CalibrationData is not null && Reconstruct ? ", reconstructed" : "")}",
    };
}
