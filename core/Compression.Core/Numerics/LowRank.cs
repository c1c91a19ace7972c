using MathNet.Numerics.LinearAlgebra;

namespace Compression.Core.Numerics;

/// <summary>
/// The spectrum of a layer's weight W [inputs, outputs] (row-major, y = x W), optionally whitened by the second
/// moment of the layer's input C = X^T X on calibration data (SVD-LLM's truncation-aware whitening): with C = L L^T,
/// ||X (W - W')|| = ||L^T (W - W')||, so the best rank-r W' in the layer's output error is L^-T times the rank-r SVD
/// of L^T W, and each dropped singular value is exactly the output error it costs. Without C it is the plain SVD.
/// </summary>
public sealed class LowRankSpectrum
{
    private readonly Matrix<double> left;   // U of the (whitened) SVD, [inputs, k]
    private readonly Matrix<double> right;  // V^T, [k, outputs]
    private readonly double[]? whiteningUpper; // L^T, row-major [inputs, inputs]; null for the plain SVD
    private readonly double total;

    private LowRankSpectrum(Matrix<double> left, double[] singular, Matrix<double> right, double[]? whiteningUpper, int inputs, int outputs)
    {
        this.left = left;
        this.right = right;
        this.whiteningUpper = whiteningUpper;
        SingularValues = singular;
        Inputs = inputs;
        Outputs = outputs;
        foreach (var value in singular)
        {
            total += value * value;
        }
    }

    public int Inputs { get; }

    public int Outputs { get; }

    /// <summary>Singular values, largest first (of L^T W when whitened).</summary>
    public IReadOnlyList<double> SingularValues { get; }

    /// <summary>Whether the spectrum was whitened by the input's second moment (data-aware).</summary>
    public bool Whitened => whiteningUpper is not null;

    /// <summary>
    /// Decomposes <paramref name="weight"/>; with <paramref name="inputMoment"/> (X^T X, row-major [inputs, inputs],
    /// changed in place by the damping) the spectrum is whitened. A moment that is singular (features that never
    /// vary) is damped by <paramref name="relativeDamping"/> of its mean diagonal until it factors.
    /// </summary>
    public static LowRankSpectrum Of(ReadOnlySpan<float> weight, int inputs, int outputs, double[]? inputMoment, double relativeDamping = InverseCholesky.Damping)
    {
        var w = Matrix<double>.Build.Dense(inputs, outputs);
        for (var i = 0; i < inputs; i++)
        {
            for (var o = 0; o < outputs; o++)
            {
                w[i, o] = weight[i * outputs + o];
            }
        }

        double[]? upper = null;
        if (inputMoment is not null)
        {
            var lower = DiagonalDamping.Factor<double[]>(inputMoment, inputs, relativeDamping, "second moment of the input", TryLower);
            upper = Cholesky.Transposed(lower, inputs);
            w = Matrix<double>.Build.Dense(inputs, inputs, (i, j) => upper[(long)i * inputs + j]) * w;
        }

        var svd = w.Svd(computeVectors: true);
        var k = Math.Min(inputs, outputs);
        var u = svd.U.SubMatrix(0, inputs, 0, k);
        var vt = svd.VT.SubMatrix(0, k, 0, outputs);
        return new LowRankSpectrum(u, svd.S.ToArray()[..k], vt, upper, inputs, outputs);
    }

    private static bool TryLower(double[] moment, int n, out double[] lower)
    {
        lower = (double[])moment.Clone();
        return Cholesky.TryFactorInPlace(lower, n);
    }

    /// <summary>The largest rank whose two factors hold at most <paramref name="share"/> of the dense weight's parameters.</summary>
    public static int RankForShare(int inputs, int outputs, double share) =>
        (int)Math.Floor(share * inputs * outputs / (inputs + outputs));

    /// <summary>The rank above which factoring saves no parameters: r (m + n) >= m n.</summary>
    public static int BreakEvenRank(int inputs, int outputs) => (int)((long)inputs * outputs / (inputs + outputs));

    /// <summary>The smallest rank that keeps <paramref name="energy"/> of the sum of squared singular values.</summary>
    public int RankForEnergy(double energy)
    {
        var kept = 0.0;
        for (var r = 0; r < SingularValues.Count; r++)
        {
            kept += SingularValues[r] * SingularValues[r];
            if (kept >= energy * total)
            {
                return r + 1;
            }
        }

        return SingularValues.Count;
    }

    /// <summary>
    /// The relative error of the rank-r weight: sqrt of the dropped squared singular values over all of them. Whitened,
    /// it is the relative error of the layer's output on the calibration data (damping aside).
    /// </summary>
    public double RelativeError(int rank)
    {
        var dropped = 0.0;
        for (var r = Math.Min(rank, SingularValues.Count); r < SingularValues.Count; r++)
        {
            dropped += SingularValues[r] * SingularValues[r];
        }

        return total == 0 ? 0 : Math.Sqrt(dropped / total);
    }

    /// <summary>
    /// The rank-r factors W ~ A B: A [inputs, rank] and B [rank, outputs], row-major, the singular values split evenly
    /// (sqrt on each side) so both factors have the same scale for later quantization.
    /// </summary>
    public (float[] Left, float[] Right) Factors(int rank)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rank, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(rank, SingularValues.Count);
        var a = new float[(long)Inputs * rank];
        var b = new float[(long)rank * Outputs];
        Parallel.For(0, rank, r =>
        {
            var scale = Math.Sqrt(SingularValues[r]);
            var column = new double[Inputs];
            for (var i = 0; i < Inputs; i++)
            {
                column[i] = left[i, r] * scale;
            }

            if (whiteningUpper is not null)
            {
                Cholesky.SolveUpper(whiteningUpper, Inputs, column); // A = L^-T U sqrt(S)
            }

            for (var i = 0; i < Inputs; i++)
            {
                a[(long)i * rank + r] = (float)column[i];
            }

            for (var o = 0; o < Outputs; o++)
            {
                b[(long)r * Outputs + o] = (float)(right[r, o] * scale);
            }
        });

        return (a, b);
    }
}
