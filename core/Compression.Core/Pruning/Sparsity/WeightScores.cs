namespace Compression.Core.Pruning.Sparsity;

/// <summary>
/// The importance of every single weight of a [rows, length] weight, higher is more important. L1 and L2 are both
/// |w| here (for one weight they rank alike); activation is Wanda's |w| x ||x_j|| (the input feature's RMS on the
/// calibration data, from the Hessian's diagonal); output_error is the OBS saliency w^2 / [H^-1]_jj, the growth of
/// the layer's squared output error when that weight alone is removed and the rest refit.
/// </summary>
internal static class WeightScores
{
    public static float[] Score(ReadOnlySpan<float> rows, int length, ImportanceCriterion criterion, LayerStatistics? statistics)
    {
        var scores = new float[rows.Length];
        switch (criterion)
        {
            case ImportanceCriterion.Activation when statistics is not null:
                var norms = new float[length];
                for (var j = 0; j < length; j++)
                {
                    norms[j] = (float)Math.Sqrt(Math.Max(0, statistics.Hessian[(long)j * length + j] / 2));
                }

                for (var i = 0; i < rows.Length; i++)
                {
                    scores[i] = Math.Abs(rows[i]) * norms[i % length];
                }

                break;
            case ImportanceCriterion.OutputError when statistics is not null:
                var inverseDiagonal = statistics.InverseDiagonal();
                for (var i = 0; i < rows.Length; i++)
                {
                    scores[i] = (float)(rows[i] * (double)rows[i] / inverseDiagonal[i % length]);
                }

                break;
            default:
                for (var i = 0; i < rows.Length; i++)
                {
                    scores[i] = Math.Abs(rows[i]);
                }

                break;
        }

        return scores;
    }

    /// <summary>Whether the criterion ranks weights of one output row against each other only (Wanda's per-output comparison).</summary>
    public static bool RanksPerRow(ImportanceCriterion criterion, LayerStatistics? statistics) =>
        statistics is not null && criterion is ImportanceCriterion.Activation or ImportanceCriterion.OutputError;
}
