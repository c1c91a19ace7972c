using Compression.Core.Numerics;

namespace Compression.Core.Quantization.WeightOnly;

/// <summary>
/// GPTQ (Frantar et al., 2022): quantizes a weight one input feature at a time and spreads each rounding error over
/// the features not yet quantized, weighted by the inverse Hessian of the layer's inputs, so the layer's output
/// moves as little as possible on the calibration data. Rows (output features) are independent given the Hessian
/// and run in parallel.
/// </summary>
internal static class GptqQuantizer
{
    /// <summary>
    /// Quantizes a [rows, length] weight (rows are output features, length is K) given H [K, K]. Act order, kept
    /// block-wise so blocks stay contiguous along K as MatMulNBits requires: blocks are visited by decreasing sum of
    /// their H diagonal and, within a block, features by decreasing diagonal (the most active first, while the most
    /// features remain to absorb their error). A block's scale is chosen (with the clip search) when its turn comes,
    /// from its weights as the errors of the blocks before have updated them; scales fixed from the original weights
    /// ("static groups") clip the updated weights, and left GPTQ below round-to-nearest on MiniLM (docs/BENCHMARKS.md).
    /// The weights of features that never fire on the calibration data are zeroed in <paramref name="weight"/>;
    /// <paramref name="hessian"/> is only read.
    /// </summary>
    public static QuantizedRows Quantize(float[] weight, int rows, int length, double[] hessian, BlockLayout layout, CancellationToken cancellation)
    {
        var (order, blocks) = VisitingOrder(hessian, length, layout);
        var upper = UpperFactor(Permuted(hessian, length, order), length, weight, rows, order);
        var result = new QuantizedRows(rows, length, layout);
        Parallel.For(0, rows, new ParallelOptions { CancellationToken = cancellation }, () => new float[length], (r, _, row) =>
        {
            for (var i = 0; i < length; i++)
            {
                row[i] = weight[r * length + order[i]];
            }

            var codes = result.Codes.AsSpan(r * length, length);
            var first = 0;
            foreach (var block in blocks)
            {
                var count = Math.Min(layout.BlockSize, length - block * layout.BlockSize);
                var index = r * result.BlocksPerRow + block;
                var (scale, zeroPoint) = BlockQuantizer.ChooseParameters(row.AsSpan(first, count), layout);
                result.Scales[index] = scale;
                result.ZeroPoints[index] = (byte)zeroPoint;
                var inverse = scale == 0 ? 0 : 1 / scale;
                for (var i = first; i < first + count; i++)
                {
                    var code = BlockQuantizer.Code(row[i], inverse, zeroPoint, layout.MaxCode);
                    codes[order[i]] = (byte)code;
                    InverseCholesky.Compensate(row, i, row[i] - scale * (code - zeroPoint), upper, length);
                }

                first += count;
            }

            return row;
        }, _ => { });
        return result;
    }

    /// <summary>
    /// The features in visiting order (a block's features consecutive) and the blocks in visiting order. Array.Sort
    /// is not stable but is deterministic, so equal keys land the same way on every run.
    /// </summary>
    private static (int[] Order, int[] Blocks) VisitingOrder(double[] hessian, int length, BlockLayout layout)
    {
        var blockCount = layout.BlockCount(length);
        var blocks = new int[blockCount];
        var blockKeys = new double[blockCount];
        for (var b = 0; b < blockCount; b++)
        {
            blocks[b] = b;
            for (var k = b * layout.BlockSize; k < Math.Min(length, (b + 1) * layout.BlockSize); k++)
            {
                blockKeys[b] -= hessian[k * length + k];
            }
        }

        Array.Sort(blockKeys, blocks);
        var order = new int[length];
        var keys = new double[length];
        var position = 0;
        foreach (var block in blocks)
        {
            var start = block * layout.BlockSize;
            var count = Math.Min(layout.BlockSize, length - start);
            for (var j = 0; j < count; j++)
            {
                order[position + j] = start + j;
                keys[position + j] = -hessian[(start + j) * length + start + j];
            }

            Array.Sort(keys, order, position, count);
            position += count;
        }

        return (order, blocks);
    }

    /// <summary>H [length, length] with its rows and columns in visiting order.</summary>
    internal static double[] Permuted(double[] hessian, int length, int[] order)
    {
        var permuted = new double[hessian.Length];
        for (var i = 0; i < length; i++)
        {
            for (var j = 0; j < length; j++)
            {
                permuted[i * length + j] = hessian[order[i] * length + order[j]];
            }
        }

        return permuted;
    }

    /// <summary>
    /// U with (H + damping)^-1 = U^T U, for H already permuted into visiting order (<paramref name="order"/> maps
    /// it back to the weight's features). Features that never fire (zero diagonal) get a unit diagonal and zero
    /// weights, as in the paper; the damping grows by its first amount until H is positive definite.
    /// </summary>
    internal static float[] UpperFactor(double[] hessian, int size, float[] weight, int rows, int[] order)
    {
        for (var i = 0; i < size; i++)
        {
            if (hessian[i * size + i] == 0)
            {
                for (var r = 0; r < rows; r++)
                {
                    weight[r * size + order[i]] = 0;
                }
            }
        }

        return InverseCholesky.DampedUpperFactorOfInverse(hessian, size);
    }
}
