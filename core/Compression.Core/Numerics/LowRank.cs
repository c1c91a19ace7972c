using MathNet.Numerics.LinearAlgebra;
using MathNet.Numerics.LinearAlgebra.Factorization;

namespace Compression.Core.Numerics;

/// <summary>
/// The spectrum of a layer's weight W [inputs, outputs] (row-major, y = x W), optionally whitened by the second
/// moment of the layer's input C = X^T X on calibration data (SVD-LLM's truncation-aware whitening): with C = L L^T,
/// ||X (W - W')|| = ||L^T (W - W')||, so the best rank-r W' in the layer's output error comes from the rank-r SVD of
/// L^T W, and each dropped singular value is exactly the output error it costs. Without C it is the plain SVD.
/// The SVD is read from the symmetric eigenproblem on the smaller side, which costs a fraction of a full SVD:
/// outputs &lt;= inputs: W^T C W = V S^2 V^T, and W' = W V_r V_r^T (the projection of the layer's outputs on their top
/// principal directions, exact for any C, singular included); outputs &gt; inputs: L^T W W^T L = U S^2 U^T, and
/// W' = L^-T U_r U_r^T L^T W (C damped where it is singular).
/// </summary>
public sealed class LowRankSpectrum
{
    private readonly Matrix<double> weight;         // W, or L^T W on the input route
    private readonly Matrix<double> vectors;        // V [outputs, k] (output route) or U [inputs, k] (input route)
    private readonly double[]? whiteningUpper;      // L^T, row-major [inputs, inputs]; input route with C only
    private readonly bool outputRoute;
    private readonly double total;

    private LowRankSpectrum(Matrix<double> weight, Matrix<double> vectors, double[] singular, bool outputRoute, double[]? whiteningUpper,
        bool whitened, int inputs, int outputs)
    {
        this.weight = weight;
        this.vectors = vectors;
        this.outputRoute = outputRoute;
        this.whiteningUpper = whiteningUpper;
        Whitened = whitened;
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
    public bool Whitened { get; }

    /// <summary>
    /// Decomposes <paramref name="weight"/>; with <paramref name="inputMoment"/> (X^T X, row-major [inputs, inputs],
    /// changed in place by the damping when it must be factored) the spectrum is whitened. A moment that is singular
    /// (features that never vary) is damped by <paramref name="relativeDamping"/> of its mean diagonal until it factors.
    /// </summary>
    public static LowRankSpectrum Of(ReadOnlySpan<float> weight, int inputs, int outputs, double[]? inputMoment, double relativeDamping = InverseCholesky.Damping)
    {
        var w = Matrix<double>.Build.Dense(inputs, outputs);
        var storage = w.AsColumnMajorArray();
        for (var i = 0; i < inputs; i++)
        {
            for (var o = 0; o < outputs; o++)
            {
                storage[(long)o * inputs + i] = weight[i * outputs + o];
            }
        }

        var k = Math.Min(inputs, outputs);
        if (outputs <= inputs)
        {
            var gram = inputMoment is null
                ? w.TransposeThisAndMultiply(w)
                : w.TransposeThisAndMultiply(Symmetric(inputMoment, inputs) * w);
            var (values, vectors) = Descending(gram, k);
            return new LowRankSpectrum(w, vectors, values, outputRoute: true, null, inputMoment is not null, inputs, outputs);
        }

        double[]? upper = null;
        if (inputMoment is not null)
        {
            var lower = DiagonalDamping.Factor<double[]>(inputMoment, inputs, relativeDamping, "second moment of the input", Cholesky.TryLower);
            upper = Cholesky.Transposed(lower, inputs);
            w = Symmetric(upper, inputs, upperOnly: true) * w; // L^T W
        }

        var (inputValues, inputVectors) = Descending(w.TransposeAndMultiply(w), k);
        return new LowRankSpectrum(w, inputVectors, inputValues, outputRoute: false, upper, upper is not null, inputs, outputs);
    }

    /// <summary>A row-major [n, n] array as a matrix (symmetric, or the upper triangle of L^T).</summary>
    private static Matrix<double> Symmetric(double[] values, int n, bool upperOnly = false) =>
        Matrix<double>.Build.Dense(n, n, (i, j) => upperOnly && j < i ? 0 : values[(long)i * n + j]);

    /// <summary>The k largest eigenvalues of a symmetric positive semi-definite matrix as singular values (square roots), with their eigenvectors.</summary>
    private static (double[] Values, Matrix<double> Vectors) Descending(Matrix<double> gram, int k)
    {
        var evd = gram.Evd(Symmetricity.Symmetric);
        var n = gram.RowCount;
        var order = new int[n];
        var eigen = new double[n];
        for (var i = 0; i < n; i++)
        {
            order[i] = i;
            eigen[i] = evd.EigenValues[i].Real;
        }

        Array.Sort(eigen, order); // ascending; ties keep no particular order, but the sort is deterministic
        var values = new double[k];
        var vectors = Matrix<double>.Build.Dense(n, k);
        for (var r = 0; r < k; r++)
        {
            var source = order[n - 1 - r];
            values[r] = Math.Sqrt(Math.Max(0, eigen[n - 1 - r]));
            vectors.SetColumn(r, evd.EigenVectors.Column(source));
        }

        return (values, vectors);
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
        var basis = vectors.SubMatrix(0, vectors.RowCount, 0, rank);
        // Output route: W V_r is L^-T U_r S_r; input route: U_r^T L^T W is S_r V_r^T. Each side then takes sqrt(S_r).
        var projected = outputRoute ? weight * basis : basis.TransposeThisAndMultiply(weight);
        var a = new float[(long)Inputs * rank];
        var b = new float[(long)rank * Outputs];
        var floor = SingularValues[0] * 1e-12;
        Parallel.For(0, rank, r =>
        {
            var singular = SingularValues[r];
            var root = Math.Sqrt(Math.Max(singular, floor));
            var inverseRoot = singular > floor ? 1 / root : 0;
            if (outputRoute)
            {
                for (var i = 0; i < Inputs; i++)
                {
                    a[(long)i * rank + r] = (float)(projected[i, r] * inverseRoot);
                }

                for (var o = 0; o < Outputs; o++)
                {
                    b[(long)r * Outputs + o] = (float)(basis[o, r] * root);
                }

                return;
            }

            var column = new double[Inputs];
            for (var i = 0; i < Inputs; i++)
            {
                column[i] = basis[i, r] * root;
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
                b[(long)r * Outputs + o] = (float)(projected[r, o] * inverseRoot);
            }
        });

        return (a, b);
    }
}
