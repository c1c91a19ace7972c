using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Passes.Graph;

namespace Compression.Core.Quantization.Static;

/// <summary>
/// Empirical bias correction for Conv weights (Nagel et al. 2019, "Data-Free Quantization", section 4.2). Rounding
/// the weights of a channel moves that channel's output by sum(dW x) on average; with BatchNormalization folded in,
/// where a large input mean times the weights is cancelled by a large bias, that shift is far from zero. The
/// PaddleOCR v4 recognizer loses 7 points of per-step agreement to it with per-channel int8 weights and every
/// activation float. The calibration pass records, for every Conv, the mean of what each kernel tap reads (input
/// channel x tap, over batch and output positions, zero padding included); the corrected bias is
/// bias - sum over taps of dW x tap mean, exact in expectation over the calibration data.
/// </summary>
internal sealed class ConvTapMeans
{
    private readonly Dictionary<string, List<Accumulator>> byInput = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Accumulator> byNode = new(StringComparer.Ordinal);

    /// <summary>The Convs of a graph whose weight is a 4-D initializer with explicit (or no) padding.</summary>
    public static ConvTapMeans For(OnnxGraph graph)
    {
        var means = new ConvTapMeans();
        foreach (var node in graph.Nodes)
        {
            if (node.OpType != "Conv" || !GraphScopes.IsStandard(node) || node.Input.Count < 2 || graph.Initializer(node.Input[1]) is not { } weight
                || weight.Dims.Count != 4 || StringAttribute(node, "auto_pad") is not (null or "" or "NOTSET"))
            {
                continue;
            }

            var accumulator = new Accumulator(node, weight.Dims);
            means.byNode[node.Name] = accumulator;
            if (!means.byInput.TryGetValue(node.Input[0], out var list))
            {
                means.byInput[node.Input[0]] = list = [];
            }

            list.Add(accumulator);
        }

        return means;
    }

    /// <summary>Adds the first <paramref name="samples"/> of one captured batch (ignored unless the tensor is a recorded Conv's input).</summary>
    public void Collect(string tensor, IReadOnlyList<long> shape, int samples, float[] values)
    {
        if (samples > 0 && shape.Count == 4 && byInput.TryGetValue(tensor, out var accumulators))
        {
            foreach (var accumulator in accumulators)
            {
                accumulator.Collect((int)shape[1], (int)shape[2], (int)shape[3], samples, values);
            }
        }
    }

    /// <summary>Mean per input channel and tap, laid out [C_in, kh, kw]; null when nothing was recorded for the node.</summary>
    public double[]? Means(string node) =>
        byNode.TryGetValue(node, out var accumulator) && accumulator.Count > 0
            ? Array.ConvertAll(accumulator.Sums!, s => s / accumulator.Count)
            : null;

    /// <summary>
    /// Subtracts from each output channel's bias the mean shift its rounded weights cause:
    /// sum over its group's input channels and taps of (dequantized - float weight) x tap mean.
    /// </summary>
    public static void Correct(Span<float> bias, ReadOnlySpan<float> weight, IReadOnlyList<long> dims, long group, QuantizedWeight quantized,
        ReadOnlySpan<double> tapMeans)
    {
        var outputs = (int)dims[0];
        var perGroupInputs = (int)dims[1];
        var taps = (int)(dims[2] * dims[3]);
        var outputsPerGroup = outputs / (int)group;
        var run = perGroupInputs * taps; // one output channel's weights
        for (var o = 0; o < outputs; o++)
        {
            var channel = quantized.PerChannel ? o : 0;
            var scale = quantized.Scales[channel];
            var zeroPoint = quantized.ZeroPoints[channel];
            var firstInput = o / outputsPerGroup * perGroupInputs;
            var means = tapMeans.Slice(firstInput * taps, run);
            var shift = 0.0;
            for (var k = 0; k < run; k++)
            {
                var index = o * run + k;
                shift += ((double)scale * (quantized.Values[index] - zeroPoint) - weight[index]) * means[k];
            }

            bias[o] = (float)(bias[o] - shift);
        }
    }

    private static string? StringAttribute(NodeProto node, string name) =>
        node.Attribute.FirstOrDefault(a => a.Name == name) is { } a ? a.S.ToStringUtf8() : null;

    /// <summary>Sums, per input channel and tap, of the values the tap reads at every output position (0 in the padding).</summary>
    private sealed class Accumulator(NodeProto node, IReadOnlyList<long> weightDims)
    {
        private readonly int kernelHeight = (int)weightDims[2];
        private readonly int kernelWidth = (int)weightDims[3];
        private readonly long[] strides = Pair(node, "strides", 1);
        private readonly long[] dilations = Pair(node, "dilations", 1);
        private readonly long[] pads = node.Attribute.FirstOrDefault(a => a.Name == "pads") is { Ints.Count: 4 } p ? p.Ints.ToArray() : [0, 0, 0, 0];

        public double[]? Sums { get; private set; }

        public long Count { get; private set; }

        public void Collect(int channels, int height, int width, int samples, float[] values)
        {
            var (strideY, strideX, dilationY, dilationX) = ((int)strides[0], (int)strides[1], (int)dilations[0], (int)dilations[1]);
            var (padTop, padLeft) = ((int)pads[0], (int)pads[1]);
            var outputHeight = (height + padTop + (int)pads[2] - dilationY * (kernelHeight - 1) - 1) / strideY + 1;
            var outputWidth = (width + padLeft + (int)pads[3] - dilationX * (kernelWidth - 1) - 1) / strideX + 1;
            if (outputHeight <= 0 || outputWidth <= 0)
            {
                return;
            }

            Sums ??= new double[channels * kernelHeight * kernelWidth];
            if (Sums.Length != channels * kernelHeight * kernelWidth)
            {
                return; // the channel count changed between batches: keep what matches the weight
            }

            var plane = height * width;
            var sums = Sums;
            // Channels are independent and each writes only its own sums: parallel and deterministic.
            Parallel.For(0, channels, c =>
            {
                var taps = kernelHeight * kernelWidth;
                var local = new double[taps];
                for (var n = 0; n < samples; n++)
                {
                    var image = values.AsSpan((n * channels + c) * plane, plane);
                    for (var ky = 0; ky < kernelHeight; ky++)
                    {
                        for (var oy = 0; oy < outputHeight; oy++)
                        {
                            var iy = oy * strideY + ky * dilationY - padTop;
                            if (iy < 0 || iy >= height)
                            {
                                continue;
                            }

                            var row = image.Slice(iy * width, width);
                            for (var kx = 0; kx < kernelWidth; kx++)
                            {
                                var offset = kx * dilationX - padLeft;
                                if (offset > width - 1)
                                {
                                    continue;
                                }

                                // Output columns whose input column ox * stride + offset lies inside the row.
                                var first = offset >= 0 ? 0 : (-offset + strideX - 1) / strideX;
                                var last = Math.Min(outputWidth - 1, (width - 1 - offset) / strideX);
                                var sum = 0.0;
                                for (var ox = first; ox <= last; ox++)
                                {
                                    sum += row[ox * strideX + offset];
                                }

                                local[ky * kernelWidth + kx] += sum;
                            }
                        }
                    }
                }

                for (var t = 0; t < taps; t++)
                {
                    sums[c * taps + t] += local[t];
                }
            });
            Count += (long)samples * outputHeight * outputWidth;
        }

        private static long[] Pair(NodeProto node, string name, long fallback) =>
            node.Attribute.FirstOrDefault(a => a.Name == name) is { Ints.Count: 2 } a ? a.Ints.ToArray() : [fallback, fallback];
    }
}
