namespace Compression.Core.Evaluation.Metrics;

/// <summary>How close a candidate's output is to the reference's, accumulated batch by batch in O(1) memory.</summary>
public sealed class FidelityAccumulator(string output)
{
    private double sumReferenceSquared;
    private double sumCandidateSquared;
    private double sumProduct;
    private double sumErrorSquared;
    private double maxAbsoluteError;
    private long elements;
    private long rows;
    private long agreeingRows;

    public string Output { get; } = output;

    /// <summary>Adds one batch; the last dimension is the one top-1 agreement compares along.</summary>
    public void Add(OutputValue reference, OutputValue candidate)
    {
        if (reference.Values.Length != candidate.Values.Length)
        {
            throw new ArgumentException($"Output '{Output}' has {reference.Values.Length} values in the reference and {candidate.Values.Length} in the candidate.");
        }

        ReadOnlySpan<float> r = reference.Values;
        ReadOnlySpan<float> c = candidate.Values;
        for (var i = 0; i < r.Length; i++)
        {
            double a = r[i];
            double b = c[i];
            var error = a - b;
            sumReferenceSquared += a * a;
            sumCandidateSquared += b * b;
            sumProduct += a * b;
            sumErrorSquared += error * error;
            maxAbsoluteError = Math.Max(maxAbsoluteError, Math.Abs(error));
        }

        elements += r.Length;
        var width = reference.Shape.Length == 0 ? 1 : (int)Math.Max(1, reference.Shape[^1]);
        for (var start = 0; start + width <= r.Length; start += width)
        {
            rows++;
            if (ArgMax(r.Slice(start, width)) == ArgMax(c.Slice(start, width)))
            {
                agreeingRows++;
            }
        }
    }

    public FidelityMetrics Result() => new(
        Output,
        Agreement: rows == 0 ? 1 : (double)agreeingRows / rows,
        Cosine: sumReferenceSquared == 0 || sumCandidateSquared == 0 ? (sumReferenceSquared == sumCandidateSquared ? 1 : 0) : sumProduct / Math.Sqrt(sumReferenceSquared * sumCandidateSquared),
        Mse: elements == 0 ? 0 : sumErrorSquared / elements,
        SqnrDb: sumErrorSquared == 0 ? double.PositiveInfinity : 10 * Math.Log10(sumReferenceSquared / sumErrorSquared),
        MaxAbsoluteError: maxAbsoluteError);

    internal static int ArgMax(ReadOnlySpan<float> values)
    {
        var best = 0;
        for (var i = 1; i < values.Length; i++)
        {
            if (values[i] > values[best])
            {
                best = i;
            }
        }

        return best;
    }
}

/// <summary>Candidate against reference for one output.</summary>
/// <param name="Output">The output's name.</param>
/// <param name="Agreement">Share of rows (along the last dimension) whose arg-max matches.</param>
/// <param name="Cosine">Cosine similarity of the whole output, all batches together.</param>
/// <param name="Mse">Mean squared error per element.</param>
/// <param name="SqnrDb">Signal to quantization-noise ratio in dB: 10 log10(sum ref^2 / sum err^2).</param>
/// <param name="MaxAbsoluteError">Largest absolute difference of any element.</param>
public sealed record FidelityMetrics(string Output, double Agreement, double Cosine, double Mse, double SqnrDb, double MaxAbsoluteError);
