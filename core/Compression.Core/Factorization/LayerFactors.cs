using Compression.Core.Numerics;
using MathNet.Numerics.LinearAlgebra;

namespace Compression.Core.Factorization;

/// <summary>
/// The ranks a layer is split at. Every split is read as up to three factors applied in turn: an input factor
/// (a 1x1 Conv to <see cref="InputRank"/> channels; Tucker-2 only), the core (the layer's own kernel, to
/// <see cref="OutputRank"/> outputs) and an output factor (to the layer's outputs). A rank of 0 means no factor on
/// that side: a MatMul, a Gemm and an SVD-split Conv have no input factor.
/// </summary>
internal sealed record FactorChoice(int InputRank, int OutputRank)
{
    /// <summary>Parameters of the factors (biases aside).</summary>
    public long Parameters(FactorTarget target)
    {
        var coreInputs = InputRank > 0 ? (long)InputRank * target.Taps : target.Inputs;
        var coreOutputs = OutputRank > 0 ? OutputRank : target.Outputs;
        return (InputRank > 0 ? (long)target.Channels * InputRank : 0) + coreInputs * coreOutputs
            + (OutputRank > 0 ? (long)OutputRank * target.Outputs : 0);
    }

    public override string ToString() => InputRank > 0 && OutputRank > 0 ? $"{InputRank}x{OutputRank}"
        : InputRank > 0 ? $"{InputRank} (input)" : $"{OutputRank}";
}

/// <summary>A split's factors, row-major as [inputs, outputs] each: y = x In Core Out (In and Out null when absent).</summary>
internal sealed record Factors(float[]? In, float[] Core, float[]? Out, FactorChoice Choice);

/// <summary>
/// The spectra of one layer and the factors they give: the weight [inputs, outputs] whitened by the second moment of
/// its input (a Conv's patches) when there is calibration data, plain otherwise. A Tucker-2 Conv also has the spectrum
/// of its input channels (the weight unfolded as [channels, outputs x taps], whitened by the channels' second moment,
/// the patch moment summed over the taps): its input factor keeps the channel directions the data uses.
/// </summary>
internal sealed class LayerFactors
{
    private readonly FactorTarget target;
    private readonly float[] columns;    // W as [inputs, outputs]
    private readonly double[]? moment;   // X^T X of the inputs (patches), row-major [inputs, inputs]; never changed
    private LowRankSpectrum? outputSpectrum;
    private LowRankSpectrum? channelSpectrum;

    public LayerFactors(FactorTarget target, double[]? moment)
    {
        this.target = target;
        this.moment = moment;
        columns = target.Weight.ReadColumns();
    }

    public FactorTarget Target => target;

    public bool Whitened => moment is not null;

    /// <summary>The spectrum of the whole weight over its outputs (the split's output side).</summary>
    public LowRankSpectrum OutputSpectrum => outputSpectrum ??= LowRankSpectrum.Of(columns, target.Inputs, target.Outputs, Copy(moment));

    /// <summary>A Tucker-2 Conv's spectrum over its input channels.</summary>
    private LowRankSpectrum ChannelSpectrum => channelSpectrum ??= LowRankSpectrum.Of(ChannelUnfolding(), target.Channels, target.Outputs * target.Taps, ChannelMoment());

    /// <summary>The largest rank a side can have: beyond it the factor is a full-rank square that saves nothing.</summary>
    private int MaxOutputRank => Math.Min(target.Outputs, target.Kind == FactorKind.ConvTucker2 ? target.Channels * target.Taps : target.Inputs);

    /// <summary>
    /// The split that keeps <paramref name="keep"/> of the parameters: the rank r (m + n) = keep m n, or for Tucker-2 the
    /// ranks a C and a O with C a + a^2 C O taps + a O O = keep C O taps (both sides cut in proportion); ranks rounded
    /// to the nearest multiple of <paramref name="roundTo"/> (at least one), so a layer's share can land a step off.
    /// </summary>
    public FactorChoice ForKeep(double keep, int roundTo)
    {
        if (target.Kind != FactorKind.ConvTucker2)
        {
            return new FactorChoice(0, RoundNearest(keep * target.Inputs * target.Outputs / (target.Inputs + target.Outputs), roundTo, MaxOutputRank));
        }

        double c = target.Channels, o = target.Outputs, taps = target.Taps;
        var a = c * o * taps;
        var b = c * c + o * o;
        var alpha = (-b + Math.Sqrt(b * b + 4 * a * keep * a)) / (2 * a);
        return Tucker(RoundNearest(alpha * c, roundTo, target.Channels), RoundNearest(alpha * o, roundTo, target.Outputs));
    }

    /// <summary>The split at a given rank (each Tucker-2 side at most its channels).</summary>
    public FactorChoice ForRank(int rank) => target.Kind == FactorKind.ConvTucker2
        ? Tucker(Math.Min(rank, target.Channels), Math.Min(rank, target.Outputs))
        : new FactorChoice(0, Math.Min(rank, MaxOutputRank));

    /// <summary>The smallest split that keeps <paramref name="energy"/> of the squared singular values on each side, rounded up.</summary>
    public FactorChoice ForEnergy(double energy, int roundTo) => target.Kind == FactorKind.ConvTucker2
        ? Tucker(RoundUp(ChannelSpectrum.RankForEnergy(energy), roundTo, target.Channels), RoundUp(OutputSpectrum.RankForEnergy(energy), roundTo, target.Outputs))
        : new FactorChoice(0, RoundUp(OutputSpectrum.RankForEnergy(energy), roundTo, MaxOutputRank));

    /// <summary>
    /// The splits sensitivity allocation chooses among, each with its predicted squared relative error, smallest first:
    /// ranks in steps of <paramref name="roundTo"/> that save parameters (Tucker-2: both sides in proportion).
    /// </summary>
    public List<(FactorChoice Choice, long Parameters, double ErrorSquared)> Candidates(int roundTo)
    {
        var candidates = new List<(FactorChoice, long, double)>();
        var steps = target.Kind == FactorKind.ConvTucker2 ? (target.Channels + roundTo - 1) / roundTo : (MaxOutputRank + roundTo - 1) / roundTo;
        for (var step = 1; step <= steps; step++)
        {
            var choice = target.Kind == FactorKind.ConvTucker2
                ? Tucker(Math.Min(step * roundTo, target.Channels), RoundDown((int)Math.Round((double)step * roundTo * target.Outputs / target.Channels), roundTo, target.Outputs))
                : new FactorChoice(0, Math.Min(step * roundTo, MaxOutputRank));
            var parameters = choice.Parameters(target);
            if (parameters >= target.Parameters)
            {
                break;
            }

            var error = PredictedError(choice);
            candidates.Add((choice, parameters, error * error));
        }

        return candidates;
    }

    /// <summary>
    /// The relative error of the layer's output the split is predicted to cost: from the dropped singular values (exact
    /// for a MatMul, Gemm or SVD-split Conv with calibration data; for Tucker-2 the two sides' errors added in squares).
    /// Without calibration data it is the weight's relative error.
    /// </summary>
    public double PredictedError(FactorChoice choice)
    {
        var output = choice.OutputRank > 0 ? OutputSpectrum.RelativeError(choice.OutputRank) : 0;
        var input = choice.InputRank > 0 ? ChannelSpectrum.RelativeError(choice.InputRank) : 0;
        return Math.Sqrt(output * output + input * input);
    }

    /// <summary>The factors of a split: the input side from the channel spectrum, then the output side of what is left, whitened by its own input's moment.</summary>
    public Factors Build(FactorChoice choice)
    {
        float[]? inFactor = null;
        float[] core = columns;
        var coreInputs = target.Inputs;
        double[]? coreMoment = Copy(moment);
        if (choice.InputRank > 0)
        {
            var (left, right) = ChannelSpectrum.Factors(choice.InputRank);
            inFactor = left;
            core = CoreFromChannels(right, choice.InputRank);
            coreInputs = choice.InputRank * target.Taps;
            coreMoment = moment is null ? null : ProjectedMoment(left, choice.InputRank);
        }

        if (choice.OutputRank == 0)
        {
            return new Factors(inFactor, core, null, choice);
        }

        var spectrum = choice.InputRank == 0 ? OutputSpectrum : LowRankSpectrum.Of(core, coreInputs, target.Outputs, coreMoment);
        var (coreFactor, outFactor) = spectrum.Factors(Math.Min(choice.OutputRank, spectrum.SingularValues.Count));
        return new Factors(inFactor, coreFactor, outFactor, choice);
    }

    private FactorChoice Tucker(int inputRank, int outputRank) =>
        new(inputRank >= target.Channels ? 0 : inputRank, outputRank >= target.Outputs ? 0 : outputRank);

    private static int RoundDown(int rank, int roundTo, int max) => Math.Min(max, Math.Max(roundTo, rank / roundTo * roundTo));

    private static int RoundNearest(double rank, int roundTo, int max) => Math.Min(max, Math.Max(roundTo, (int)Math.Round(rank / roundTo, MidpointRounding.AwayFromZero) * roundTo));

    private static int RoundUp(int rank, int roundTo, int max) => Math.Min(max, (rank + roundTo - 1) / roundTo * roundTo);

    private static double[]? Copy(double[]? values) => values is null ? null : (double[])values.Clone();

    /// <summary>The weight as [channels, outputs x taps]: W[c, o taps + t] = columns[c taps + t, o].</summary>
    private float[] ChannelUnfolding()
    {
        int channels = target.Channels, taps = target.Taps, outputs = target.Outputs;
        var unfolded = new float[(long)channels * outputs * taps];
        for (var c = 0; c < channels; c++)
        {
            for (var t = 0; t < taps; t++)
            {
                var row = ((long)c * taps + t) * outputs;
                for (var o = 0; o < outputs; o++)
                {
                    unfolded[((long)c * outputs + o) * taps + t] = columns[row + o];
                }
            }
        }

        return unfolded;
    }

    /// <summary>The channels' second moment: the patch moment's diagonal tap blocks summed (each tap sees the channels alike, borders aside).</summary>
    private double[]? ChannelMoment()
    {
        if (moment is null)
        {
            return null;
        }

        int channels = target.Channels, taps = target.Taps, size = target.Inputs;
        var result = new double[(long)channels * channels];
        for (var c = 0; c < channels; c++)
        {
            for (var d = 0; d < channels; d++)
            {
                var sum = 0.0;
                for (var t = 0; t < taps; t++)
                {
                    sum += moment[((long)c * taps + t) * size + (long)d * taps + t];
                }

                result[(long)c * channels + d] = sum;
            }
        }

        return result;
    }

    /// <summary>The core's weight [rank x taps, outputs] from the channel factors' right side [rank, outputs x taps].</summary>
    private float[] CoreFromChannels(float[] right, int rank)
    {
        int taps = target.Taps, outputs = target.Outputs;
        var core = new float[(long)rank * taps * outputs];
        for (var j = 0; j < rank; j++)
        {
            for (var o = 0; o < outputs; o++)
            {
                for (var t = 0; t < taps; t++)
                {
                    core[((long)j * taps + t) * outputs + o] = right[((long)j * outputs + o) * taps + t];
                }
            }
        }

        return core;
    }

    /// <summary>
    /// The second moment of the core's input patches, [rank x taps]^2: the input factor A [channels, rank] applied to
    /// every tap of the patch moment, (A (x) I)^T M (A (x) I), block by block over tap pairs.
    /// </summary>
    private double[] ProjectedMoment(float[] inFactor, int rank)
    {
        int channels = target.Channels, taps = target.Taps, size = target.Inputs;
        var a = Matrix<double>.Build.Dense(channels, rank, (c, j) => inFactor[(long)c * rank + j]);
        var projectedSize = rank * taps;
        var result = new double[(long)projectedSize * projectedSize];
        for (var t = 0; t < taps; t++)
        {
            for (var u = 0; u < taps; u++)
            {
                var tt = t;
                var uu = u;
                var block = Matrix<double>.Build.Dense(channels, channels, (c, d) => moment![((long)c * taps + tt) * size + (long)d * taps + uu]);
                var projected = a.TransposeThisAndMultiply(block * a);
                for (var j = 0; j < rank; j++)
                {
                    for (var k = 0; k < rank; k++)
                    {
                        result[((long)j * taps + t) * projectedSize + (long)k * taps + u] = projected[j, k];
                    }
                }
            }
        }

        return result;
    }
}
