using System.Globalization;
using Compression.Core.Diagnostics;
using Compression.Core.Options;
using Compression.Core.Passes;

namespace Compression.Core.Factorization;

/// <summary>How a layer's weight is decomposed.</summary>
public enum FactorizeMethod
{
    /// <summary>whitened with calibration data, svd without (with a warning: data-aware factors are much better).</summary>
    Auto,

    /// <summary>Truncated SVD of the weight whitened by its input's second moment on calibration data (SVD-LLM): the rank-r factors with the least output error.</summary>
    Whitened,

    /// <summary>Plain truncated SVD of the weight: the least weight error, blind to which inputs matter.</summary>
    Svd,
}

/// <summary>How the parameter budget is shared among the factored layers.</summary>
public enum RankAllocation
{
    /// <summary>Every layer keeps the same share of its parameters (or the same rank or energy).</summary>
    Uniform,

    /// <summary>
    /// Per-layer ranks that keep the overall share with the least summed squared relative output error on the
    /// calibration data (ASVD's per-layer search, on the whitened spectra): layers whose spectrum falls fast give up more.
    /// </summary>
    Sensitivity,
}

/// <summary>How a k x k Conv is factored.</summary>
public enum ConvFactorization
{
    /// <summary>Tucker-2: 1x1 (input rank) -> k x k core -> 1x1 (output rank).</summary>
    Tucker2,

    /// <summary>k x k Conv to a rank-r k x k Conv and a 1x1 Conv (SVD along the output channels).</summary>
    Svd,

    /// <summary>Convs are left alone.</summary>
    None,
}

/// <summary>The options of the <c>factorize</c> step (and of <c>Invoke-ModelFactorize</c>).</summary>
public sealed record FactorizeOptions : PassOptions, ICheckedOptions
{
    /// <summary>The share of parameters kept when none of keep, rank and energy is given.</summary>
    public const double DefaultKeep = 0.5;

    [Option("Fraction of each factored layer's parameters kept by its factors (the rank follows); the default, 0.5, when neither rank nor energy is given. With allocation: sensitivity the share holds over all factored layers together.", Minimum = 0, Maximum = 1, ExclusiveMaximum = true)]
    public double? Keep { get; init; }

    [Option("The rank of every factored layer (inner dimension of the two factors; a Tucker-2 Conv's input and output ranks), instead of keep.", Minimum = 1)]
    public int? Rank { get; init; }

    [Option("Share of each layer's (whitened) squared singular values kept, instead of keep: the smallest rank that keeps it.", Minimum = 0, Maximum = 1)]
    public double? Energy { get; init; }

    [Option("Ranks are multiples of this (at least one multiple), so 4-bit blocks and SIMD lanes fit the inner dimension: a keep share's rank is rounded to the nearest multiple, an energy's up; 1 keeps them exact. An explicit rank is taken as given.", Minimum = 1)]
    public int RoundTo { get; init; } = 16;

    [Option("whitened (SVD of the weight whitened by its input's second moment on calibration data, the least output error) or svd (plain SVD of the weight); auto: whitened with calibration data, svd without.")]
    public FactorizeMethod Method { get; init; } = FactorizeMethod.Auto;

    [Option("uniform (every layer keeps the same share) or sensitivity (per-layer ranks that keep the overall share with the least output error on the calibration data; needs calibration and keep).")]
    public RankAllocation Allocation { get; init; } = RankAllocation.Uniform;

    [Option("After the factors are chosen, refit each layer's last factor (and bias) by least squares to the original layer's output, on what it reads in the factored model, layer after layer in graph order (one calibration pass per layer; needs calibration). Measured: the residual CNN at keep 0.5 lost 0.7 points with it, 1.0 without; all-MiniLM-L6-v2 lost more with it, so it is off by default.")]
    public bool Refit { get; init; }

    [Option("Convs with a k x k kernel: tucker2 (1x1 -> k x k -> 1x1 with input and output ranks), svd (k x k -> 1x1 along the output channels) or none. Depthwise and grouped Convs are left alone.")]
    public ConvFactorization Conv { get; init; } = ConvFactorization.Tucker2;

    [Option("Each factored layer is timed against the dense one with ONNX Runtime on this machine (batch 1, one thread) and kept only if it is at least this much faster; 0 keeps every factorization that saves parameters (and makes the output independent of the machine).", Minimum = 0)]
    public double MinSpeedup { get; init; } = 1.0;

    [NodePatterns]
    [Option("Nodes left alone: names (wildcards * and ?) or op types (e.g. Conv).")]
    public IReadOnlyList<string> Exclude { get; init; } = [];

    [NodePatterns]
    [Option("Settings for some layers, by node name (wildcards * and ?) or op type; the first matching entry wins, unmatched layers take the step's values: keep, rank or energy (keep: 1 leaves a layer dense).")]
    public IReadOnlyDictionary<string, LayerFactorSpec> Layers { get; init; } = new Dictionary<string, LayerFactorSpec>();

    [Option("Calibration data: the layer inputs' second moments that whiten the spectra, choose sensitivity ranks and refit.")]
    public StepCalibrationSpec? Calibration { get; init; }

    /// <summary>The method made concrete: whitened with calibration data, svd without.</summary>
    internal FactorizeMethod ConcreteMethod => Method != FactorizeMethod.Auto ? Method
        : Calibration is null ? FactorizeMethod.Svd : FactorizeMethod.Whitened;

    /// <summary>
    /// The combinations that cannot run, checked when a recipe is read and again before factoring: a keep, rank or
    /// energy out of range, two of them together (at the step or in a <c>layers</c> entry), a data-aware choice
    /// without calibration data, sensitivity allocation without a keep share.
    /// </summary>
    public IEnumerable<OptionProblem> Problems()
    {
        foreach (var problem in BudgetProblems(Keep, Rank, Energy, ""))
        {
            yield return problem;
        }

        foreach (var (key, layer) in Layers)
        {
            if (layer is null)
            {
                continue;
            }

            foreach (var problem in BudgetProblems(layer.Keep, layer.Rank, layer.Energy, $"layers.{key}."))
            {
                yield return problem with { Option = "layers" };
            }
        }

        if (Calibration is null && Method == FactorizeMethod.Whitened)
        {
            yield return new(ErrorCodes.FactorizeCalibrationMissing,
                "method: whitened whitens each weight by its input's second moment on calibration data: set calibration.data (recipe) or -CalibrationData (cmdlet), or use method: svd.", "method");
        }

        if (Calibration is null && Allocation == RankAllocation.Sensitivity)
        {
            yield return new(ErrorCodes.FactorizeCalibrationMissing,
                "allocation: sensitivity measures each layer's output error on calibration data: set calibration.data (recipe) or -CalibrationData (cmdlet), or use allocation: uniform.", "allocation");
        }

        if (Calibration is null && Refit)
        {
            yield return new(ErrorCodes.FactorizeCalibrationMissing,
                "refit fits the second factor on calibration activations: set calibration.data (recipe) or -CalibrationData (cmdlet).", "refit");
        }

        if (Allocation == RankAllocation.Sensitivity && (Rank is not null || Energy is not null))
        {
            yield return new(ErrorCodes.FactorizeOptionConflict,
                $"allocation: sensitivity shares a keep budget among the layers; {(Rank is not null ? "rank" : "energy")} fixes each layer's rank itself. Give keep, or use allocation: uniform.", "allocation");
        }
    }

    private static IEnumerable<OptionProblem> BudgetProblems(double? keep, int? rank, double? energy, string prefix)
    {
        var given = (keep is null ? 0 : 1) + (rank is null ? 0 : 1) + (energy is null ? 0 : 1);
        if (given > 1)
        {
            var names = new[] { keep is null ? null : "keep", rank is null ? null : "rank", energy is null ? null : "energy" }.Where(n => n is not null);
            yield return new(ErrorCodes.FactorizeOptionConflict,
                $"{prefix}{string.Join(" and ", names)} are given together; each says how large the factors are: give one.", prefix.Length == 0 ? (keep is null ? "rank" : rank is null ? "energy" : "rank") : "layers");
        }

        if (keep is { } k && !(k > 0 && (k < 1 || (prefix.Length > 0 && k == 1))))
        {
            yield return new(ErrorCodes.FactorizeBudget,
                $"{prefix}keep must be in (0, 1){(prefix.Length > 0 ? " (1 leaves the layer dense)" : "")}: the share of the layer's parameters its factors keep; got {Text(k)}.", "keep");
        }

        if (rank is < 1)
        {
            yield return new(ErrorCodes.FactorizeBudget, $"{prefix}rank must be at least 1: the inner dimension of the factors; got {rank}.", "rank");
        }

        if (energy is { } e && !(e > 0 && e <= 1))
        {
            yield return new(ErrorCodes.FactorizeBudget,
                $"{prefix}energy must be in (0, 1]: the share of the layer's squared singular values kept; got {Text(e)}.", "energy");
        }
    }

    private static string Text(double value) => value.ToString(CultureInfo.InvariantCulture);
}

/// <summary>Factorization settings of the layers an entry of <c>layers</c> matches; at most one of keep, rank and energy.</summary>
public sealed record LayerFactorSpec
{
    [Option("Fraction of these layers' parameters kept by their factors; 1 leaves them dense.", Minimum = 0, Maximum = 1)]
    public double? Keep { get; init; }

    [Option("The rank of these layers' factors.", Minimum = 1)]
    public int? Rank { get; init; }

    [Option("Share of these layers' squared singular values kept.", Minimum = 0, Maximum = 1)]
    public double? Energy { get; init; }
}
