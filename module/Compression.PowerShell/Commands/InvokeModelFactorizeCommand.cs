using System.Globalization;
using System.Management.Automation;
using Compression.Core.Data;
using Compression.Core.Factorization;
using Compression.Core.Onnx;
using Compression.Core.Passes;
using Compression.Core.Recipes;

namespace Compression.PowerShell.Commands;

/// <summary>
/// Splits MatMul, Gemm and Conv layers into low-rank factors (SVD whitened on calibration data, Tucker-2 for k x k
/// Convs) and checks the result against the original with ONNX Runtime: the same pipeline, result and report as a
/// one-step recipe.
/// </summary>
[Cmdlet(VerbsLifecycle.Invoke, "ModelFactorize", DefaultParameterSetName = PathSet, SupportsShouldProcess = true)]
[OutputType("Compression.Core.Pipeline.CompressionResult")]
public sealed class InvokeModelFactorizeCommand : OneStepCmdlet
{
    // -Keep, -Rank and -Energy are not checked here: two of them together (CMP3502) or one out of range (CMP3501)
    // get the step's own errors, the same a recipe gets.

    /// <summary>Share of each factored layer's parameters kept, in (0, 1) (default 0.5 when neither -Rank nor -Energy is given).</summary>
    [Parameter]
    public double? Keep { get; set; }

    [Parameter]
    public int? Rank { get; set; }

    [Parameter]
    public double? Energy { get; set; }

    [Parameter]
    [ValidateRange(1, 4096)]
    public int RoundTo { get; set; } = 16;

    // Enum-like parameters are strings with a ValidateSet: this assembly must not hold fields of the engine's
    // value types, which PowerShell would load while it inspects the cmdlets, before the engine can resolve.
    [Parameter]
    [ValidateSet("Auto", "Whitened", "Svd")]
    public string Method { get; set; } = "Auto";

    [Parameter]
    [ValidateSet("Uniform", "Sensitivity")]
    public string Allocation { get; set; } = "Uniform";

    /// <summary>Refit each layer's last factor by least squares on the factored model's activations, layer after layer (needs -CalibrationData).</summary>
    [Parameter]
    public SwitchParameter Refit { get; set; }

    [Parameter]
    [ValidateSet("Tucker2", "Svd", "None")]
    public string Conv { get; set; } = "Tucker2";

    [Parameter]
    [ValidateRange(0.0, 1000.0)]
    public double MinSpeedup { get; set; } = 1.0;

    [Parameter]
    [ValidateNotNull]
    public string[] Exclude { get; set; } = [];

    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int CalibrationSamples { get; set; } = 128;

    protected override string StepName => "factorize";

    protected override string Action => "Factorize";

    protected override PassOptions BuildOptions() => new FactorizeOptions
    {
        Keep = Keep,
        Rank = Rank,
        Energy = Energy,
        RoundTo = RoundTo,
        Method = Parse<FactorizeMethod>(Method),
        Allocation = Parse<RankAllocation>(Allocation),
        Refit = Refit.IsPresent,
        Conv = Parse<ConvFactorization>(Conv),
        MinSpeedup = MinSpeedup,
        Exclude = Exclude,
        Calibration = CalibrationData is null ? null : new StepCalibrationSpec { Data = CalibrationSet, Samples = CalibrationSamples },
    };

    /// <summary>One line per layer; with -CalibrationData the spectra are computed on it (the model is not written).</summary>
    protected override IReadOnlyList<string> Plan(string input, PassOptions options, Recipe recipe)
    {
        var dataSets = recipe.Data.Where(d => d.Key == CalibrationSet)
            .ToDictionary(d => d.Key, d => DataSourceFactory.Create(d.Value with { Name = d.Value.Name ?? d.Key }, recipe.BaseDirectory));
        return FactorizePass.PlanLayers(ModelLoader.Load(input), (FactorizeOptions)options, dataSets, Log, Cancellation);
    }

    /// <summary>The default output name says what was done: model.lowrank.onnx.</summary>
    protected override string Suffix() => "lowrank";

    protected override string Describe()
    {
        var budget = Rank is { } rank ? $"rank {rank}"
            : Energy is { } energy ? $"keep {energy.ToString("P0", CultureInfo.InvariantCulture)} of each spectrum's energy"
            : $"keep {(Keep ?? FactorizeOptions.DefaultKeep).ToString("P0", CultureInfo.InvariantCulture)} of each layer's parameters";
        // ValidateSet accepts any casing and passes it on as typed.
        var method = Parse<FactorizeMethod>(Method);
        var whitened = method == FactorizeMethod.Whitened || (method == FactorizeMethod.Auto && CalibrationData is not null);
        return $"{budget}, {(whitened ? "whitened" : "plain")} SVD, {Allocation.ToLowerInvariant()} ranks, Convs: {Conv.ToLowerInvariant()}{(Refit.IsPresent ? ", refit" : "")}, "
            + (MinSpeedup > 0 ? $"splits kept where at least {MinSpeedup.ToString("0.##", CultureInfo.InvariantCulture)}x as fast here" : "splits kept wherever they save parameters");
    }
}
