using System.Numerics.Tensors;

namespace Compression.Core.Quantization.WeightOnly;

/// <summary>
/// GPTQ (Frantar et al., 2022): quantizes a weight one input feature at a time and spreads each rounding error over
/// the features not yet quantized, weighted by the inverse Hessian of the layer's inputs, so the layer's output
/// moves as little as possible on the calibration data. Rows (output features) are independent given the Hessian
/// and run in parallel; a block's scale is chosen when the walk reaches it, from the already-corrected weights.
/// </summary>
internal static class GptqQuantizer
{
    /// <summary>Added to the diagonal, as a fraction of its mean: keeps H invertible and the updates tame.</summary>
    private const double Damping = 0.01;

    /// <summary>Quantizes a [rows, length] weight (rows are output features, length is K) given H [K, K].</summary>
    public static QuantizedRows Quantize(float[] weight, int rows, int length, double[] hessian, BlockLayout layout, CancellationToken cancellation)
    {
        var upper = UpperFactor(hessian, length, weight, rows);
        var working = (float[])weight.Clone();
        var result = new QuantizedRows(rows, length, layout);
        Parallel.For(0, rows, new ParallelOptions { CancellationToken = cancellation }, r =>
        {
            var row = working.AsSpan(r * length, length);
            var codes = result.Codes.AsSpan(r * length, length);
            float scale = 0, inverseScale = 0;
            var zeroPoint = 0;
            for (var i = 0; i < length; i++)
            {
                if (i % layout.BlockSize == 0)
                {
                    var block = r * result.BlocksPerRow + i / layout.BlockSize;
                    (scale, zeroPoint) = BlockQuantizer.ChooseParameters(row.Slice(i, Math.Min(layout.BlockSize, length - i)), layout);
                    inverseScale = scale == 0 ? 0 : 1 / scale;
                    result.Scales[block] = scale;
                    result.ZeroPoints[block] = (byte)zeroPoint;
                }

                var code = BlockQuantizer.Code(row[i], inverseScale, zeroPoint, layout.MaxCode);
                codes[i] = (byte)code;
                var error = (row[i] - scale * (code - zeroPoint)) / upper[i * length + i];
                if (i + 1 < length)
                {
                    var rest = row[(i + 1)..];
                    TensorPrimitives.MultiplyAdd(upper.AsSpan(i * length + i + 1, length - i - 1), -error, rest, rest);
                }
            }
        });
        return result;
    }

    /// <summary>
    /// U with (H + damping)^-1 = U^T U. Features that never fire (zero diagonal) get a unit diagonal and zero
    /// weights, as in the paper; the damping grows by its first amount until H is positive definite.
    /// </summary>
    private static float[] UpperFactor(double[] hessian, int size, float[] weight, int rows)
    {
        var meanDiagonal = 0.0;
        for (var i = 0; i < size; i++)
        {
            if (hessian[i * size + i] == 0)
            {
                hessian[i * size + i] = 1;
                for (var r = 0; r < rows; r++)
                {
                    weight[r * size + i] = 0;
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
