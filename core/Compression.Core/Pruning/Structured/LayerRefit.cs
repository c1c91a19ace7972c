using MathNet.Numerics.LinearAlgebra;

namespace Compression.Core.Pruning.Structured;

/// <summary>
/// What a consuming layer becomes when some of its input features go: the kept rows of its weight, refit by
/// least squares on calibration statistics when asked, and a bias correction. With Σ the input covariance and
/// μ its mean, the refit W' = (Σ_kk + λI)⁻¹ (Σ_k· W + λ W_k) keeps the output x W as close as the kept features
/// allow (λ pulls toward the old weights where calibration data is thin); the bias then absorbs the mean shift
/// μᵀ W − μ_kᵀ W'. The relative output error is E‖(x − μ)ᵀ (W − W')‖² / E‖xᵀ W‖².
/// </summary>
internal static class LayerRefit
{
    /// <summary>Damping as a fraction of the mean diagonal of Σ_kk, as GPTQ does.</summary>
    private const double Damping = 0.01;

    public sealed record Result(float[] Matrix, double[]? BiasDelta, double? Error);

    /// <summary>Refits (or, without <paramref name="leastSquares"/>, only slices and bias-corrects) a [features, outputs] feature-major weight to the kept features (ascending).</summary>
    public static Result Apply(float[] weights, int outputs, int[] kept, ConsumerStatistics? statistics, bool leastSquares)
    {
        var features = weights.Length / outputs;
        if (statistics?.SecondMoment is not { } moment || statistics.Mean is not { } mean)
        {
            return new Result(Rows(weights, outputs, kept), null, null);
        }

        var w = Matrix<double>.Build.Dense(features, outputs, (i, j) => weights[(long)i * outputs + j]);
        var second = Matrix<double>.Build.Dense(features, features, moment); // symmetric: column-major reads the same
        var mu = Vector<double>.Build.Dense(mean);
        var covariance = second - mu.OuterProduct(mu);
        var keptRows = w.SubMatrix(0, features, 0, outputs);
        var wk = Matrix<double>.Build.Dense(kept.Length, outputs, (i, j) => w[kept[i], j]);
        Matrix<double> refit;
        if (leastSquares)
        {
            var sigmaKk = Matrix<double>.Build.Dense(kept.Length, kept.Length, (i, j) => covariance[kept[i], kept[j]]);
            var sigmaKAll = Matrix<double>.Build.Dense(kept.Length, features, (i, j) => covariance[kept[i], j]);
            var lambda = Damping * Math.Max(sigmaKk.Diagonal().Average(), 1e-12);
            var system = sigmaKk + Matrix<double>.Build.DenseIdentity(kept.Length) * lambda;
            refit = system.Cholesky().Solve(sigmaKAll * w + wk * lambda);
        }
        else
        {
            refit = wk;
        }

        var muK = Vector<double>.Build.Dense(kept.Length, i => mean[kept[i]]);
        var biasDelta = (w.TransposeThisAndMultiply(mu) - refit.TransposeThisAndMultiply(muK)).ToArray();

        var delta = keptRows.Clone();
        for (var i = 0; i < kept.Length; i++)
        {
            delta.SetRow(kept[i], w.Row(kept[i]) - refit.Row(i));
        }

        var lost = (covariance * delta).PointwiseMultiply(delta).Enumerate().Sum();
        var energy = (second * w).PointwiseMultiply(w).Enumerate().Sum();
        var matrix = new float[kept.Length * outputs];
        for (var i = 0; i < kept.Length; i++)
        {
            for (var j = 0; j < outputs; j++)
            {
                matrix[i * outputs + j] = (float)refit[i, j];
            }
        }

        return new Result(matrix, biasDelta, energy > 0 ? lost / energy : 0);
    }

    private static float[] Rows(float[] weights, int outputs, int[] kept)
    {
        var result = new float[kept.Length * outputs];
        for (var i = 0; i < kept.Length; i++)
        {
            weights.AsSpan(kept[i] * outputs, outputs).CopyTo(result.AsSpan(i * outputs));
        }

        return result;
    }
}
