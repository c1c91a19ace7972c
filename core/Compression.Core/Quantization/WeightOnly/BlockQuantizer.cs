namespace Compression.Core.Quantization.WeightOnly;

/// <summary>
/// Round-to-nearest block quantization with a clip search: each block tries a few ranges shrunk from its full
/// range and keeps the one with the least squared error, which beats the plain full range on almost every block
/// (the largest value pays a little so all the others get a finer step).
/// </summary>
internal static class BlockQuantizer
{
    /// <summary>The clip ratios tried for each block: 1.0 down to 0.80 in steps of 0.02.</summary>
    private const int ClipSteps = 11;
    private const float ClipStep = 0.02f;

    /// <summary>Quantizes every row of a [rows, length] float matrix; rows run in parallel.</summary>
    public static QuantizedRows QuantizeRows(float[] values, int rows, int length, BlockLayout layout, CancellationToken cancellation)
    {
        var result = new QuantizedRows(rows, length, layout);
        Parallel.For(0, rows, new ParallelOptions { CancellationToken = cancellation }, r =>
        {
            var row = values.AsSpan(r * length, length);
            var codes = result.Codes.AsSpan(r * length, length);
            for (var b = 0; b < result.BlocksPerRow; b++)
            {
                var start = b * layout.BlockSize;
                var count = Math.Min(layout.BlockSize, length - start);
                var (scale, zeroPoint) = ChooseParameters(row.Slice(start, count), layout);
                result.Scales[r * result.BlocksPerRow + b] = scale;
                result.ZeroPoints[r * result.BlocksPerRow + b] = (byte)zeroPoint;
                Encode(row.Slice(start, count), scale, zeroPoint, layout.MaxCode, codes.Slice(start, count));
            }
        });
        return result;
    }

    /// <summary>
    /// The scale and zero point of one block with the least squared error among the clip ratios. Symmetric blocks
    /// map the value of largest magnitude to the lowest code (-2^(bits-1) after the zero point), so the scale is
    /// negative when that value is positive: the whole code range is used, as ONNX Runtime's own quantizer does.
    /// </summary>
    public static (float Scale, int ZeroPoint) ChooseParameters(ReadOnlySpan<float> block, BlockLayout layout)
    {
        float min = 0, max = 0, extreme = 0;
        foreach (var value in block)
        {
            min = MathF.Min(min, value);
            max = MathF.Max(max, value);
            if (MathF.Abs(value) > MathF.Abs(extreme))
            {
                extreme = value;
            }
        }

        if (max - min == 0)
        {
            return (0f, layout.Symmetric ? layout.SymmetricZeroPoint : 0);
        }

        var best = (Scale: 0f, ZeroPoint: 0);
        var bestError = double.PositiveInfinity;
        for (var step = 0; step < ClipSteps; step++)
        {
            var ratio = 1f - step * ClipStep;
            var candidate = layout.Symmetric
                ? (Scale: extreme * ratio / -layout.SymmetricZeroPoint, ZeroPoint: layout.SymmetricZeroPoint)
                : Asymmetric(min * ratio, max * ratio, layout.MaxCode);
            var error = SquaredError(block, candidate.Scale, candidate.ZeroPoint, layout.MaxCode);
            if (error < bestError)
            {
                bestError = error;
                best = candidate;
            }
        }

        return best;
    }

    /// <summary>Codes of a block: round half to even of value / scale, plus the zero point, clamped to [0, maxCode].</summary>
    public static void Encode(ReadOnlySpan<float> block, float scale, int zeroPoint, int maxCode, Span<byte> codes)
    {
        var inverse = scale == 0 ? 0 : 1 / scale;
        for (var i = 0; i < block.Length; i++)
        {
            codes[i] = (byte)Code(block[i], inverse, zeroPoint, maxCode);
        }
    }

    public static int Code(float value, float inverseScale, int zeroPoint, int maxCode) =>
        Math.Clamp((int)MathF.Round(value * inverseScale) + zeroPoint, 0, maxCode);

    private static (float Scale, int ZeroPoint) Asymmetric(float min, float max, int maxCode)
    {
        var scale = (max - min) / maxCode;
        var zeroPoint = Math.Clamp((int)MathF.Round(-min / scale), 0, maxCode);
        return (scale, zeroPoint);
    }

    private static double SquaredError(ReadOnlySpan<float> block, float scale, int zeroPoint, int maxCode)
    {
        var inverse = 1 / scale;
        var error = 0f;
        foreach (var value in block)
        {
            var difference = value - scale * (Code(value, inverse, zeroPoint, maxCode) - zeroPoint);
            error += difference * difference;
        }

        return error;
    }
}
