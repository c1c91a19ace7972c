using System.Numerics.Tensors;
using Compression.Core.Numerics;

namespace Compression.Core.Pruning.Structured;

/// <summary>
/// What a consuming layer becomes when some of its input features go: the kept rows of its weight, refit by
/// least squares when asked, and a new bias. The target is the original model's output y of the layer; the input
/// x' is the layer's input with the groups before it already pruned (forward error minimization). With Σ the
/// covariance of x'_k (the kept features) and S = Cov(x'_k, y):
/// W' = (Σ + λI)⁻¹ (S + λ W_k), where λ (see <see cref="Damping"/>) pulls toward the old weights where
/// calibration data is thin; the bias becomes E[y] − W'ᵀ E[x'_k] (bias correction, also without the refit).
/// The reported error is E‖y − ŷ‖² / E‖y‖². Span kernels in double: MathNet's managed provider measured
/// ~0.4 GFLOP/s here, too slow for the 3,000-wide systems of a ResNet's last stage.
/// </summary>
internal static class LayerRefit
{
    /// <summary>
    /// Damping as a fraction of Σ's mean diagonal: 4 x kept features / rows, from 0.01 to 4. Few rows per unknown
    /// overfit badly (MiniLM's FFN on 2,500 calibration tokens: held-out cosine 0.40 at 0.01, 0.81 at 4, 0.76
    /// without refit); many rows per unknown (a Conv's im2col patches) need little.
    /// </summary>
    private static double Damping(int kept, long rows) => Math.Clamp(4.0 * kept / Math.Max(1, rows), 0.01, 4);

    /// <summary>Outputs the error is measured on at most; a spread sample keeps a wide layer's report cheap.</summary>
    private const int ErrorOutputs = 128;

    public sealed record Result(float[] Matrix, double[]? BiasDelta, double? Error);

    /// <summary>
    /// <paramref name="weights"/> is the current [features, outputs] weight (feature-major), <paramref name="kept"/> the
    /// kept features (ascending), <paramref name="outputMap"/> each current output's index among the original outputs,
    /// <paramref name="currentBias"/> the layer's own bias now (zeros for a MatMul).
    /// </summary>
    public static Result Apply(float[] weights, int outputs, int[] kept, ConsumerStatistics? statistics, bool leastSquares, int[] outputMap, double[] currentBias)
    {
        if (statistics is null)
        {
            return new Result(KeptFeatures(weights, outputs, kept), null, null);
        }

        var s = statistics;
        var k = kept.Length;
        var d = s.Features;
        var sigma = new double[(long)k * k];
        Parallel.For(0, k, i =>
        {
            var row = (long)kept[i] * d;
            for (var j = 0; j < k; j++)
            {
                sigma[(long)i * k + j] = s.SecondMoment[row + kept[j]] - s.Mean[kept[i]] * s.Mean[kept[j]];
            }
        });

        // Rows of the right-hand sides are per output (contiguous for the solves): cross[o, i] = Cov(x'_i, y_o).
        var cross = new double[(long)outputs * k];
        var solution = new double[(long)outputs * k];
        for (var o = 0; o < outputs; o++)
        {
            var original = outputMap[o];
            for (var i = 0; i < k; i++)
            {
                cross[(long)o * k + i] = s.Cross[(long)kept[i] * s.Outputs + original] - s.Mean[kept[i]] * s.OutputMean[original];
                solution[(long)o * k + i] = weights[(long)kept[i] * outputs + o];
            }
        }

        if (leastSquares)
        {
            Solve(sigma, k, cross, solution, outputs, Damping(k, s.Rows));
        }

        var matrix = new float[(long)k * outputs];
        var delta = new double[outputs];
        for (var o = 0; o < outputs; o++)
        {
            var w = solution.AsSpan((int)((long)o * k), k);
            double predicted = 0;
            for (var i = 0; i < k; i++)
            {
                matrix[(long)i * outputs + o] = (float)w[i];
                predicted += w[i] * s.Mean[kept[i]];
            }

            delta[o] = s.OutputMean[outputMap[o]] - predicted - currentBias[o];
        }

        return new Result(matrix, delta, Error(sigma, k, cross, solution, outputs, outputMap, s));
    }

    /// <summary>Σ_o (Var y_o − 2 w_oᵀ S_o + w_oᵀ Σ w_o) / Σ_o E[y_o²] over a spread sample of outputs.</summary>
    private static double Error(double[] sigma, int k, double[] cross, double[] solution, int outputs, int[] outputMap, ConsumerStatistics s)
    {
        var step = Math.Max(1, outputs / ErrorOutputs);
        var sampled = Enumerable.Range(0, outputs).Where(o => o % step == 0).ToArray();
        var lost = new double[sampled.Length];
        Parallel.For(0, sampled.Length, n =>
        {
            var o = sampled[n];
            var original = outputMap[o];
            var w = solution.AsSpan((int)((long)o * k), k);
            double quadratic = 0;
            for (var i = 0; i < k; i++)
            {
                quadratic += w[i] * TensorPrimitives.Dot(sigma.AsSpan((int)((long)i * k), k), w);
            }

            var variance = s.OutputSquares[original] - s.OutputMean[original] * s.OutputMean[original];
            lost[n] = variance - 2 * TensorPrimitives.Dot(w, cross.AsSpan((int)((long)o * k), k)) + quadratic;
        });
        var energy = sampled.Sum(o => s.OutputSquares[outputMap[o]]);
        return energy > 0 ? Math.Max(0, lost.Sum()) / energy : 0;
    }

    /// <summary>
    /// Solves (Σ + λI) w_o = S_o + λ w_o for every output, in place in <paramref name="solution"/> (which holds the old
    /// kept weights): one Cholesky factorization, then a forward and a back substitution per output in parallel.
    /// </summary>
    private static void Solve(double[] sigma, int k, double[] cross, double[] solution, int outputs, double damping)
    {
        double trace = 0;
        for (var i = 0; i < k; i++)
        {
            trace += sigma[(long)i * k + i];
        }

        var lambda = damping * Math.Max(trace / k, 1e-12);
        var lower = new double[(long)k * k];
        while (!Cholesky.TryFactorInPlace(Damped(sigma, k, lambda, lower), k))
        {
            lambda *= 10; // not positive definite at this damping (e.g. dead features): damp more
        }

        var upper = Cholesky.Transposed(lower, k);
        Parallel.For(0, outputs, o =>
        {
            var x = solution.AsSpan((int)((long)o * k), k);
            var b = cross.AsSpan((int)((long)o * k), k);
            for (var i = 0; i < k; i++)
            {
                x[i] = b[i] + lambda * x[i];
            }

            Cholesky.Solve(lower, upper, k, x);
        });
    }

    /// <summary>The lower triangle of Σ + λI written into <paramref name="lower"/>.</summary>
    private static double[] Damped(double[] sigma, int k, double lambda, double[] lower)
    {
        for (var i = 0; i < k; i++)
        {
            sigma.AsSpan((int)((long)i * k), i + 1).CopyTo(lower.AsSpan((int)((long)i * k), i + 1));
            lower[(long)i * k + i] += lambda;
        }

        return lower;
    }

    /// <summary>The kept features of the [features, outputs] weight as they are: without statistics there is no refit.</summary>
    private static float[] KeptFeatures(float[] weights, int outputs, int[] kept)
    {
        var result = new float[(long)kept.Length * outputs];
        for (var i = 0; i < kept.Length; i++)
        {
            weights.AsSpan(kept[i] * outputs, outputs).CopyTo(result.AsSpan(i * outputs));
        }

        return result;
    }
}
