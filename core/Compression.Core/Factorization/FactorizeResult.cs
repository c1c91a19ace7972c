using Compression.Core.Passes;

namespace Compression.Core.Factorization;

/// <summary>
/// What the <c>factorize</c> step did: how many layers it split and how many parameters they hold now. Each
/// <see cref="LayerRow"/> says for one layer the rank, the parameters before and after, the relative output error on
/// the calibration data, the measured speedup and whether the split was kept, or why the layer stayed dense.
/// </summary>
public sealed record FactorizeResult(string Method, string Allocation, string Conv) : StepResult
{
    public int FactoredLayers { get; init; }

    public int DenseLayers { get; init; }

    /// <summary>Parameters of the layers the step looked at, before.</summary>
    public long ParametersBefore { get; init; }

    /// <summary>The same layers' parameters after (factors of the split ones, the dense ones unchanged).</summary>
    public long ParametersAfter { get; init; }

    /// <summary>The speedup each split had to reach (0: none was timed).</summary>
    public double MinSpeedup { get; init; }

    /// <summary>Whether the last factors were refit by least squares on the factored model's activations.</summary>
    public bool Refit { get; init; }
}
