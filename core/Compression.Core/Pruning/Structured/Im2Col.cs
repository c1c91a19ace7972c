using Compression.Core.Onnx.Protobuf;

namespace Compression.Core.Pruning.Structured;

/// <summary>Unfolds one image of a 2-D Conv's input into its patches: one row per output position, C x kh x kw features (the weight's layout).</summary>
internal static class Im2Col
{
    public static float[] Patches(ReadOnlySpan<float> image, IReadOnlyList<long> inputShape, IReadOnlyList<long> weightDims, NodeProto conv)
    {
        int channels = (int)inputShape[1], height = (int)inputShape[2], width = (int)inputShape[3];
        int kh = (int)weightDims[2], kw = (int)weightDims[3];
        var strides = Ints(conv, "strides", [1, 1]);
        var dilations = Ints(conv, "dilations", [1, 1]);
        var pads = Ints(conv, "pads", [0, 0, 0, 0]);
        var autoPad = conv.Attribute.FirstOrDefault(a => a.Name == "auto_pad")?.S.ToStringUtf8() ?? "NOTSET";
        if (autoPad is "SAME_UPPER" or "SAME_LOWER")
        {
            pads = SamePads(height, width, kh, kw, strides, dilations, upper: autoPad == "SAME_UPPER");
        }
        else if (autoPad == "VALID")
        {
            pads = [0, 0, 0, 0];
        }
        var outHeight = (height + pads[0] + pads[2] - dilations[0] * (kh - 1) - 1) / strides[0] + 1;
        var outWidth = (width + pads[1] + pads[3] - dilations[1] * (kw - 1) - 1) / strides[1] + 1;
        var features = channels * kh * kw;
        var patches = new float[(long)outHeight * outWidth * features];
        for (var oy = 0; oy < outHeight; oy++)
        {
            for (var ox = 0; ox < outWidth; ox++)
            {
                var row = patches.AsSpan((oy * outWidth + ox) * features, features);
                var f = 0;
                for (var c = 0; c < channels; c++)
                {
                    for (var ky = 0; ky < kh; ky++)
                    {
                        var y = oy * strides[0] - pads[0] + ky * dilations[0];
                        for (var kx = 0; kx < kw; kx++, f++)
                        {
                            var x = ox * strides[1] - pads[1] + kx * dilations[1];
                            row[f] = y >= 0 && y < height && x >= 0 && x < width ? image[(c * height + y) * width + x] : 0;
                        }
                    }
                }
            }
        }

        return patches;
    }

    /// <summary>SAME padding: output size ceil(input / stride); the odd pixel goes at the end (upper) or the start (lower).</summary>
    private static int[] SamePads(int height, int width, int kh, int kw, int[] strides, int[] dilations, bool upper)
    {
        var pads = new int[4];
        int[] sizes = [height, width], kernels = [kh, kw];
        for (var i = 0; i < 2; i++)
        {
            var output = (sizes[i] + strides[i] - 1) / strides[i];
            var total = Math.Max(0, (output - 1) * strides[i] + (kernels[i] - 1) * dilations[i] + 1 - sizes[i]);
            pads[i] = upper ? total / 2 : total - total / 2;
            pads[i + 2] = total - pads[i];
        }

        return pads;
    }

    private static int[] Ints(NodeProto node, string name, int[] fallback) =>
        node.Attribute.FirstOrDefault(a => a.Name == name) is { Ints.Count: > 0 } attribute ? attribute.Ints.Select(i => (int)i).ToArray() : fallback;
}
