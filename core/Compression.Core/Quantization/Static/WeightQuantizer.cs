namespace Compression.Core.Quantization.Static;

/// <summary>A quantized weight: integers, one scale and zero point per channel (or one for the tensor).</summary>
internal sealed record QuantizedWeight(int[] Values, float[] Scales, int[] ZeroPoints, int Axis, bool PerChannel);

/// <summary>
/// Quantizes weights per channel or per tensor, and biases to int32 at the accumulator's scale
/// (input scale x weight scale). Span kernels over the weight's flat layout: channel c along axis a of a tensor
/// with <c>inner</c> elements after that axis owns the runs [(o * channels + c) * inner, + inner).
/// </summary>
internal static class WeightQuantizer
{
    /// <summary>The largest bias integer used: int32 less a margin, so accumulation with the products stays in range.</summary>
    private const double BiasLimit = int.MaxValue / 2.0;

    public static QuantizedWeight Quantize(ReadOnlySpan<float> weight, IReadOnlyList<long> dims, int axis, bool perChannel,
        QuantizedType type, bool symmetric, bool reduceRange)
    {
        var channels = perChannel ? (int)dims[axis] : 1;
        var inner = Inner(dims, axis);
        var scales = new float[channels];
        var zeroPoints = new int[channels];
        var values = new int[weight.Length];
        for (var c = 0; c < channels; c++)
        {
            var (min, max) = perChannel ? ChannelExtremes(weight, c, channels, inner) : Calibration.MinMaxCalibrator.Extremes(weight);
            var p = QuantMath.Compute(min, max, type, symmetric, reduceRange);
            scales[c] = p.Scale;
            zeroPoints[c] = p.ZeroPoint;
        }

        var weights = new QuantizedWeight(values, scales, zeroPoints, axis, perChannel);
        for (var c = 0; c < channels; c++)
        {
            QuantizeChannel(weight, weights, c, inner, type, reduceRange);
        }

        return weights;
    }

    /// <summary>
    /// The int32 bias for an input scale. A channel whose bias would not fit in int32 at input scale x weight
    /// scale (a weight channel of ~0 has a scale near <see cref="QuantMath.MinimumScale"/>) gets a larger weight
    /// scale, and its weights are quantized again with it; this is where ONNX Runtime's tool fails on mnist-8.
    /// </summary>
    public static (int[] Values, float[] Scales) QuantizeBias(ReadOnlySpan<float> bias, float inputScale, ReadOnlySpan<float> weight,
        QuantizedWeight weights, long inner, QuantizedType weightType, bool reduceRange)
    {
        var values = new int[bias.Length];
        var scales = new float[bias.Length];
        for (var c = 0; c < bias.Length; c++)
        {
            var channel = weights.PerChannel ? c : 0;
            var needed = Math.Abs(bias[c]) / BiasLimit / inputScale;
            if (weights.Scales[channel] < needed)
            {
                weights.Scales[channel] = (float)needed;
                if (weights.PerChannel)
                {
                    QuantizeChannel(weight, weights, channel, inner, weightType, reduceRange);
                }
            }
        }

        if (!weights.PerChannel)
        {
            // One scale for every channel: requantize once with the largest scale any bias needed.
            QuantizeChannel(weight, weights, 0, inner, weightType, reduceRange);
        }

        for (var c = 0; c < bias.Length; c++)
        {
            var scale = MathF.Max(inputScale * weights.Scales[weights.PerChannel ? c : 0], QuantMath.MinimumScale * QuantMath.MinimumScale);
            scales[c] = scale;
            values[c] = (int)Math.Clamp(Math.Round(bias[c] / (double)scale, MidpointRounding.ToEven), -BiasLimit, BiasLimit);
        }

        return (values, scales);
    }

    /// <summary>Elements after the axis: the length of one channel's contiguous runs.</summary>
    public static long Inner(IReadOnlyList<long> dims, int axis)
    {
        var inner = 1L;
        for (var d = axis + 1; d < dims.Count; d++)
        {
            inner *= dims[d];
        }

        return inner;
    }

    private static void QuantizeChannel(ReadOnlySpan<float> weight, QuantizedWeight weights, int channel, long inner, QuantizedType type, bool reduceRange)
    {
        var (qmin, qmax) = QuantMath.Range(type, reduceRange);
        var p = new QuantParams(weights.Scales[channel], weights.ZeroPoints[channel]);
        if (!weights.PerChannel)
        {
            QuantMath.Quantize(weight, p, qmin, qmax, weights.Values);
            return;
        }

        var channels = weights.Scales.Length;
        var stride = channels * inner;
        for (var start = channel * inner; start < weight.Length; start += stride)
        {
            QuantMath.Quantize(weight.Slice((int)start, (int)inner), p, qmin, qmax, weights.Values.AsSpan((int)start, (int)inner));
        }
    }

    private static (float Min, float Max) ChannelExtremes(ReadOnlySpan<float> weight, int channel, int channels, long inner)
    {
        var min = float.PositiveInfinity;
        var max = float.NegativeInfinity;
        var stride = channels * inner;
        for (var start = channel * inner; start < weight.Length; start += stride)
        {
            var (low, high) = Calibration.MinMaxCalibrator.Extremes(weight.Slice((int)start, (int)inner));
            min = MathF.Min(min, low);
            max = MathF.Max(max, high);
        }

        return (min, max);
    }
}
