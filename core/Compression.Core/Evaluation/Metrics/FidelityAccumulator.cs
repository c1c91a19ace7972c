using System.Globalization;
using Compression.Core.Data;

namespace Compression.Core.Evaluation.Metrics;

/// <summary>
/// How close a candidate's output is to the reference's, accumulated batch by batch: element-wise figures (cosine,
/// MSE, SQNR, max error) for every output, and the figures the output's <see cref="OutputRole"/> gives a meaning to:
/// top-1 agreement along the class axis of class scores; for hidden states and embeddings the cosine of each sample's
/// pooled vector and, on sentence pairs, the rank correlation of the pairs' similarities.
/// </summary>
public sealed class FidelityAccumulator
{
    private readonly OutputRole role;
    private readonly Pooling pooling;
    private readonly List<double> referenceSimilarity = [];
    private readonly List<double> candidateSimilarity = [];
    private double sumReferenceSquared;
    private double sumCandidateSquared;
    private double sumProduct;
    private double sumErrorSquared;
    private double maxAbsoluteError;
    private long elements;
    private long rows;
    private long agreeingRows;
    private long vectors;
    private double sumVectorCosine;

    /// <summary>An output compared as its role says; hidden states pool as <paramref name="pooling"/> says.</summary>
    public FidelityAccumulator(OutputRole role, Pooling pooling = Pooling.Mean)
    {
        this.role = role;
        this.pooling = pooling;
    }

    public string Output => role.Output;

    public OutputRole Role => role;

    /// <summary>Adds one batch; <paramref name="mask"/> is the batch's attention mask, which pools hidden states.</summary>
    public void Add(OutputValue reference, OutputValue candidate, TensorData? mask = null) => AddVectors(reference, candidate, mask);

    /// <summary>Adds one batch of sentence pairs: both sides as samples, and each pair's similarity in both models.</summary>
    public void AddPairs(OutputValue referenceFirst, OutputValue candidateFirst, TensorData? firstMask,
        OutputValue referenceSecond, OutputValue candidateSecond, TensorData? secondMask)
    {
        var first = AddVectors(referenceFirst, candidateFirst, firstMask);
        var second = AddVectors(referenceSecond, candidateSecond, secondMask);
        if (first is null || second is null || first.Value.Reference.Length != second.Value.Reference.Length)
        {
            return;
        }

        for (var s = 0; s < first.Value.Reference.Length; s++)
        {
            referenceSimilarity.Add(Pooler.Cosine(first.Value.Reference[s], second.Value.Reference[s]));
            candidateSimilarity.Add(Pooler.Cosine(first.Value.Candidate[s], second.Value.Candidate[s]));
        }
    }

    public FidelityMetrics Result()
    {
        var vectorKind = role.Kind is OutputKind.HiddenStates or OutputKind.Embedding;
        double? pairs = null;
        if (vectorKind && referenceSimilarity.Count > 2)
        {
            var spearman = MathNet.Numerics.Statistics.Correlation.Spearman(referenceSimilarity, candidateSimilarity);
            pairs = double.IsFinite(spearman) ? spearman : null;
        }

        return new FidelityMetrics(
            Output,
            Agreement: role.Kind != OutputKind.ClassScores ? null : rows == 0 ? 1 : (double)agreeingRows / rows,
            Cosine: sumReferenceSquared == 0 || sumCandidateSquared == 0 ? (sumReferenceSquared == sumCandidateSquared ? 1 : 0) : sumProduct / Math.Sqrt(sumReferenceSquared * sumCandidateSquared),
            Mse: elements == 0 ? 0 : sumErrorSquared / elements,
            SqnrDb: sumErrorSquared == 0 ? double.PositiveInfinity : 10 * Math.Log10(sumReferenceSquared / sumErrorSquared),
            MaxAbsoluteError: maxAbsoluteError)
        {
            Kind = role.Kind,
            PooledCosine = vectorKind && vectors > 0 ? sumVectorCosine / vectors : null,
            PairSimilaritySpearman = pairs,
        };
    }

    /// <summary>Adds the element-wise and role figures of one batch; returns the pooled vectors of both models for vector kinds.</summary>
    private (float[][] Reference, float[][] Candidate)? AddVectors(OutputValue reference, OutputValue candidate, TensorData? mask)
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
        switch (role.Kind)
        {
            case OutputKind.ClassScores:
                AddAgreement(reference.Shape, r, c);
                return null;
            case OutputKind.HiddenStates or OutputKind.Embedding:
                var tokens = role.Kind == OutputKind.HiddenStates;
                var referenceVectors = Pooler.Vectors(reference, mask, pooling, tokens);
                var candidateVectors = Pooler.Vectors(candidate, mask, pooling, tokens);
                for (var s = 0; s < referenceVectors.Length; s++)
                {
                    sumVectorCosine += Pooler.Cosine(referenceVectors[s], candidateVectors[s]);
                    vectors++;
                }

                return (referenceVectors, candidateVectors);
            default:
                return null;
        }
    }

    /// <summary>Arg-max agreement along the class axis: every position of the other axes is one decision.</summary>
    private void AddAgreement(long[] shape, ReadOnlySpan<float> r, ReadOnlySpan<float> c)
    {
        var axis = shape.Length == 0 ? 0 : role.ClassAxis is { } a ? (a < 0 ? a + shape.Length : a) : shape.Length - 1;
        if (shape.Length > 0 && (axis < 0 || axis >= shape.Length))
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                $"Output '{Output}' has {shape.Length} dims; its class axis {role.ClassAxis} is not one of them."));
        }

        var classes = shape.Length == 0 ? 1 : (int)Math.Max(1, shape[axis]);
        long inner = 1;
        for (var d = axis + 1; d < shape.Length; d++)
        {
            inner *= shape[d];
        }

        var outer = r.Length / Math.Max(1, classes * inner);
        for (long o = 0; o < outer; o++)
        {
            for (long i = 0; i < inner; i++)
            {
                var start = o * classes * inner + i;
                rows++;
                if (ArgMax(r, start, classes, inner) == ArgMax(c, start, classes, inner))
                {
                    agreeingRows++;
                }
            }
        }
    }

    private static int ArgMax(ReadOnlySpan<float> values, long start, int count, long stride)
    {
        var best = 0;
        var bestValue = values[(int)start];
        for (var k = 1; k < count; k++)
        {
            var value = values[(int)(start + k * stride)];
            if (value > bestValue)
            {
                best = k;
                bestValue = value;
            }
        }

        return best;
    }
}

/// <summary>Candidate against reference for one output.</summary>
/// <param name="Output">The output's name.</param>
/// <param name="Agreement">For class scores, the share of decisions (positions along the other axes) whose arg-max along the class axis matches; null for other outputs, where it would mean nothing.</param>
/// <param name="Cosine">Cosine similarity of the whole output, all batches together.</param>
/// <param name="Mse">Mean squared error per element.</param>
/// <param name="SqnrDb">Signal to quantization-noise ratio in dB: 10 log10(sum ref^2 / sum err^2).</param>
/// <param name="MaxAbsoluteError">Largest absolute difference of any element.</param>
public sealed record FidelityMetrics(string Output, double? Agreement, double Cosine, double Mse, double SqnrDb, double MaxAbsoluteError)
{
    /// <summary>What the output holds (see <see cref="OutputRoles"/>), which says which figures apply.</summary>
    public OutputKind Kind { get; init; } = OutputKind.Other;

    /// <summary>For hidden states and embeddings: the mean over samples of the cosine of the candidate's pooled vector to the reference's.</summary>
    public double? PooledCosine { get; init; }

    /// <summary>For hidden states and embeddings on sentence pairs: Spearman's correlation of the candidate's pair similarities with the reference's.</summary>
    public double? PairSimilaritySpearman { get; init; }

    /// <summary>One line: the output, its kind, and the figures that mean something for it.</summary>
    public override string ToString()
    {
        var figures = new List<string>();
        if (Agreement is { } agreement)
        {
            figures.Add(string.Create(CultureInfo.InvariantCulture, $"agreement {agreement:0.00 %}"));
        }

        if (PooledCosine is { } pooled)
        {
            figures.Add(string.Create(CultureInfo.InvariantCulture, $"pooled cosine {pooled:0.0000}"));
        }

        if (PairSimilaritySpearman is { } pairs)
        {
            figures.Add(string.Create(CultureInfo.InvariantCulture, $"pair similarity Spearman {pairs * 100:0.00}"));
        }

        figures.Add(string.Create(CultureInfo.InvariantCulture, $"cosine {Cosine:0.0000}, SQNR {SqnrDb:0.0} dB, MSE {Mse:G3}, max error {MaxAbsoluteError:G3}"));
        return $"{Output} ({OutputRole.Describe(Kind)}): {string.Join(", ", figures)}";
    }
}
