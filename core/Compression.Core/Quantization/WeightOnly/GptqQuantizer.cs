using System.Numerics.Tensors;

namespace Compression.Core.Quantization.WeightOnly;

/// <summary>
/// GPTQ (Frantar et al., 2022): quantizes a weight one input feature at a time and spreads each rounding error over
/// the features not yet quantized, weighted by the inverse Hessian of the layer's inputs, so the layer's output
/// moves as little as possible on the calibration data. Rows (output features) are independent given the Hessian
/// and run in parallel.
/// </summary>
internal static class GptqQuantizer
{
    /// <summary>Added to the diagonal, as a fraction of its mean: keeps H invertible and the updates tame.</summary>
    private const double Damping = 0.01;

    /// <summary>
    /// Quantizes a [rows, length] weight (rows are output features, length is K) given H [K, K]. Features are
    /// visited in order of decreasing H diagonal ("act order": the most active first, while the most features
    /// remain to absorb their error), with each block's scale fixed beforehand from the original weights ("static
    /// groups"), so blocks stay contiguous along K as MatMulNBits requires. The weights of features that never
    /// fire on the calibration data are zeroed in <paramref name="weight"/>; <paramref name="hessian"/> is only read.
    /// </summary>
    public static QuantizedRows Quantize(float[] weight, int rows, int length, double[] hessian, BlockLayout layout, CancellationToken cancellation)
    {
        var order = new int[length];
        var diagonal = new double[length];
        for (var i = 0; i < length; i++)
        {
            order[i] = i;
            diagonal[i] = -hessian[i * length + i];
        }

        Array.Sort(diagonal, order);
        var permuted = new double[hessian.Length];
        for (var i = 0; i < length; i++)
        {
            for (var j = 0; j < length; j++)
            {
                permuted[i * length + j] = hessian[order[i] * length + order[j]];
            }
        }

        var upper = UpperFactor(permuted, length, weight, rows, order);
        var result = BlockQuantizer.QuantizeRows(weight, rows, length, layout, cancellation);
        Parallel.For(0, rows, new ParallelOptions { CancellationToken = cancellation }, () => new float[length], (r, _, row) =>
        {
            for (var i = 0; i < length; i++)
            {
                row[i] = weight[r * length + order[i]];
            }

            var codes = result.Codes.AsSpan(r * length, length);
            for (var i = 0; i < length; i++)
            {
                var feature = order[i];
                var block = r * result.BlocksPerRow + feature / layout.BlockSize;
                var (scale, zeroPoint) = (result.Scales[block], result.ZeroPoints[block]);
                var code = BlockQuantizer.Code(row[i], scale == 0 ? 0 : 1 / scale, zeroPoint, layout.MaxCode);
                codes[feature] = (byte)code;
                var error = (row[i] - scale * (code - zeroPoint)) / upper[i * length + i];
                if (i + 1 < length)
                {
                    var rest = row.AsSpan(i + 1);
                    TensorPrimitives.MultiplyAdd(upper.AsSpan(i * length + i + 1, length - i - 1), -error, rest, rest);
                }
            }

            return row;
        }, _ => { });
        return result;
    }

    /// <summary>
    /// U with (H + damping)^-1 = U^T U, for H already permuted into visiting order (<paramref name="order"/> maps
    /// it back to the weight's features). Features that never fire (zero diagonal) get a unit diagonal and zero
    /// weights, as in the paper; the damping grows by its first amount until H is positive definite.
    /// </summary>
    private static float[] UpperFactor(double[] hessian, int size, float[] weight, int rows, int[] order)
    {
        var meanDiagonal = 0.0;
        for (var i = 0; i < size; i++)
        {
            if (hessian[i * size + i] == 0)
            {
                hessian[i * size + i] = 1;
                for (var r = 0; r < rows; r++)
                {
                    weight[r * size + order[i]] = 0;
                }
            }

            meanDiagonal += hessian[i * size + i] / size;
        }

        var damping = Damping * meanDiagonal;
        for (var attempt = 0; ; attempt++)
        {
            for (var i = 0; i < size; i++)
            {
                hessian[i * size + i] += damping;
            }

            if (InverseCholesky.TryUpperFactorOfInverse(hessian, size, out var upper))
            {
                return upper;
            }

            if (attempt == 10)
            {
                throw new InvalidOperationException("The calibration Hessian stayed singular after damping.");
            }
        }
    }
}
