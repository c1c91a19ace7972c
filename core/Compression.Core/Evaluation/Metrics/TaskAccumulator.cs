using Compression.Core.Data;

namespace Compression.Core.Evaluation.Metrics;

/// <summary>How pooled token embeddings become one sentence vector.</summary>
public enum Pooling
{
    /// <summary>Mean over the tokens the attention mask keeps.</summary>
    Mean,

    /// <summary>The first token's vector.</summary>
    Cls,
}

/// <summary>The task metrics of one model: accuracy with class labels, rank correlations with similarity scores.</summary>
public sealed class TaskAccumulator(int topK, Pooling pooling)
{
    private readonly List<double> predictedSimilarity = [];
    private readonly List<double> goldSimilarity = [];
    private long samples;
    private long top1;
    private long topKHits;

    /// <summary>Adds a classification batch: logits [batch, classes] against int64 labels.</summary>
    public void AddClassification(OutputValue logits, TensorData labels)
    {
        var classes = (int)logits.Shape[^1];
        var truth = (long[])labels.Values;
        for (var s = 0; s < truth.Length; s++)
        {
            var row = logits.Values.AsSpan(s * classes, classes);
            var label = truth[s];
            var better = 0;
            var labelScore = label >= 0 && label < classes ? row[(int)label] : float.NegativeInfinity;
            for (var k = 0; k < classes; k++)
            {
                if (row[k] > labelScore)
                {
                    better++;
                }
            }

            samples++;
            top1 += better == 0 ? 1 : 0;
            topKHits += better < topK ? 1 : 0;
        }
    }

    /// <summary>Adds a sentence-pair batch: token embeddings (or pooled vectors) of both sides against gold scores.</summary>
    public void AddSimilarity(OutputValue first, TensorData? firstMask, OutputValue second, TensorData? secondMask, TensorData scores)
    {
        var gold = (float[])scores.Values;
        var a = Pool(first, firstMask);
        var b = Pool(second, secondMask);
        for (var s = 0; s < gold.Length; s++)
        {
            predictedSimilarity.Add(Cosine(a[s], b[s]));
            goldSimilarity.Add(gold[s]);
            samples++;
        }
    }

    public TaskMetrics Result()
    {
        if (goldSimilarity.Count > 1)
        {
            return new TaskMetrics(samples, null, null,
                MathNet.Numerics.Statistics.Correlation.Spearman(predictedSimilarity, goldSimilarity),
                MathNet.Numerics.Statistics.Correlation.Pearson(predictedSimilarity, goldSimilarity));
        }

        return samples == 0 ? new TaskMetrics(0, null, null, null, null)
            : new TaskMetrics(samples, (double)top1 / samples, topK > 1 ? (double)topKHits / samples : null, null, null);
    }

    private float[][] Pool(OutputValue output, TensorData? mask) => Pooler.Vectors(output, mask, pooling, tokens: true);

    private static double Cosine(float[] a, float[] b) => System.Numerics.Tensors.TensorPrimitives.CosineSimilarity(a, b);
}

/// <summary>Task metrics; each is null when the data set does not support it.</summary>
/// <param name="Samples">Samples evaluated (pairs for similarity).</param>
/// <param name="Top1">Share of samples whose top-scoring class is the label.</param>
/// <param name="TopK">Share whose label is among the k best (when k &gt; 1).</param>
/// <param name="Spearman">Rank correlation of predicted cosine similarity with gold scores.</param>
/// <param name="Pearson">Linear correlation of the same.</param>
public sealed record TaskMetrics(long Samples, double? Top1, double? TopK, double? Spearman, double? Pearson)
{
    public override string ToString() => this switch
    {
        { Spearman: { } s, Pearson: { } p } => FormattableString.Invariant($"{Samples} pairs: Spearman {s * 100:0.00}, Pearson {p * 100:0.00}"),
        { Top1: { } t, TopK: { } k } => FormattableString.Invariant($"{Samples} samples: top-1 {t:0.00 %}, top-k {k:0.00 %}"),
        { Top1: { } t } => FormattableString.Invariant($"{Samples} samples: top-1 {t:0.00 %}"),
        _ => "no task metric: the data has no labels (class labels, or sentence pairs with scores); see the fidelity to the original",
    };
}
