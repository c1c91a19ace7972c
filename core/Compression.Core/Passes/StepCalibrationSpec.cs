using Compression.Core.Options;

namespace Compression.Core.Passes;

/// <summary>The <c>calibration</c> options of the steps that read a layer's inputs on data (<c>prune</c>, <c>factorize</c>).</summary>
public sealed record StepCalibrationSpec
{
    [DataSet]
    [Option("The data set (a name under data) whose activations are used.")]
    public required string Data { get; init; }

    [Option("Samples of the data set used (the first ones).", Minimum = 1)]
    public int Samples { get; init; } = 128;

    [Option("Samples per calibration batch.", Minimum = 1)]
    public int BatchSize { get; init; } = 16;
}
