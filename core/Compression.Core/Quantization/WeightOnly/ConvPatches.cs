using Compression.Core.Diagnostics;
using Compression.Core.Evaluation;
using Compression.Core.Onnx.Protobuf;

namespace Compression.Core.Quantization.WeightOnly;

/// <summary>
/// How a 2-D Conv reads its [N, C, H, W] input: every output position's receptive field, zeros where it
/// reaches into the padding, is one row of C x kh x kw features in the order of the weight's [C, kh, kw] layout.
/// A 1-D Conv ([N, C, L] input, [C, k] per output channel) is read as a 2-D one of height 1 and kernel height 1.
/// Those rows are what the Conv multiplies its weight with, so their Hessian is the Conv's. Of a Conv with
/// <see cref="Groups"/> groups, the patches are those of one <see cref="Group"/>: its <see cref="Channels"/> input channels.
/// </summary>
internal sealed record ConvPatches(int Channels, int KernelHeight, int KernelWidth, int[] Strides, int[] Dilations, int[] Pads, string AutoPad, int Groups = 1, int Group = 0)
{
    /// <summary>Values of patches added to the Hessian in one update (16 M floats, 64 MB).</summary>
    private const long ValuesPerUpdate = 16L << 20;

    public int Size => Channels * KernelHeight * KernelWidth;

    /// <summary>
    /// The patches of a 2-D Conv node with a [C_out, C_in / groups, kh, kw] weight, or of a 1-D one with a
    /// [C_out, C_in / groups, k] weight, for its conv group <paramref name="group"/>.
    /// </summary>
    public static ConvPatches Of(NodeProto node, IReadOnlyList<long> weightDims, int groups = 1, int group = 0)
    {
        int[] Ints(string name, int fill) => node.Attribute.FirstOrDefault(a => a.Name == name) is { Ints.Count: > 0 } a
            ? a.Ints.Select(i => (int)i).ToArray()
            : [fill, fill, fill, fill];
        var autoPad = node.Attribute.FirstOrDefault(a => a.Name == "auto_pad")?.S.ToStringUtf8() ?? "NOTSET";
        if (weightDims.Count == 3)
        {
            // Height 1 with stride and dilation 1 and no padding along it; ONNX lists 1-D pads as [begin, end].
            var (strides, dilations, pads) = (Ints("strides", 1), Ints("dilations", 1), Ints("pads", 0));
            return new ConvPatches((int)weightDims[1], 1, (int)weightDims[2], [1, strides[0]], [1, dilations[0]], [0, pads[0], 0, pads[1]], autoPad, groups, group);
        }

        return new ConvPatches((int)weightDims[1], (int)weightDims[2], (int)weightDims[3], Ints("strides", 1), Ints("dilations", 1), Ints("pads", 0),
            autoPad, groups, group);
    }

    public string Key => $"{Channels}x{KernelHeight}x{KernelWidth}/s{string.Join(",", Strides)}/d{string.Join(",", Dilations)}/p{string.Join(",", Pads)}/{AutoPad}/g{Group}of{Groups}";

    /// <summary>
    /// Adds the patches of one captured batch to the accumulator, as many images per update as fit in
    /// <see cref="ValuesPerUpdate"/> values: each entry of the Hessian is then one long dot product instead of one per
    /// image (a 480-channel 3x3 Conv on a 3x80 map has 4,320 features and only 240 rows per image).
    /// </summary>
    public void AddTo(HessianAccumulator accumulator, OutputValue activation, string value)
    {
        if (activation.Shape.Length is not (3 or 4) || activation.Shape[1] != (long)Channels * Groups)
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.CalibrationDataMismatch,
                $"The input '{value}' of a Conv came out as [{string.Join(", ", activation.Shape)}] on the calibration data; it must be [N, {(long)Channels * Groups}, H, W] or [N, {(long)Channels * Groups}, L]."));
        }

        var (batch, height, width) = activation.Shape.Length == 3
            ? ((int)activation.Shape[0], 1, (int)activation.Shape[2])
            : ((int)activation.Shape[0], (int)activation.Shape[2], (int)activation.Shape[3]);
        var (top, left, outHeight, outWidth) = Geometry(height, width);
        var imageValues = (long)outHeight * outWidth * Size;
        var imagesPerUpdate = (int)Math.Clamp(ValuesPerUpdate / Math.Max(1, imageValues), 1, batch);
        var rows = new float[imagesPerUpdate * imageValues];
        for (var first = 0; first < batch; first += imagesPerUpdate)
        {
            var count = Math.Min(imagesPerUpdate, batch - first);
            Array.Clear(rows);
            for (var i = 0; i < count; i++)
            {
                var n = first + i;
                var image = activation.Values.AsSpan(((n * Groups + Group) * Channels) * height * width, Channels * height * width);
                Extract(image, height, width, top, left, outHeight, outWidth, rows.AsSpan((int)(i * imageValues), (int)imageValues));
            }

            accumulator.Add(rows.AsSpan(0, (int)(count * imageValues)), []);
        }
    }

    /// <summary>Writes one image's patches, row by row, into <paramref name="rows"/> (cleared: padding stays 0).</summary>
    private void Extract(ReadOnlySpan<float> image, int height, int width, int top, int left, int outHeight, int outWidth, Span<float> rows)
    {
        for (var oy = 0; oy < outHeight; oy++)
        {
            for (var ox = 0; ox < outWidth; ox++)
            {
                var row = rows.Slice((oy * outWidth + ox) * Size, Size);
                for (var c = 0; c < Channels; c++)
                {
                    for (var ky = 0; ky < KernelHeight; ky++)
                    {
                        var y = oy * Strides[0] - top + ky * Dilations[0];
                        if (y < 0 || y >= height)
                        {
                            continue;
                        }

                        for (var kx = 0; kx < KernelWidth; kx++)
                        {
                            var x = ox * Strides[1] - left + kx * Dilations[1];
                            if (x >= 0 && x < width)
                            {
                                row[(c * KernelHeight + ky) * KernelWidth + kx] = image[(c * height + y) * width + x];
                            }
                        }
                    }
                }
            }
        }
    }

    /// <summary>The padding before the first row and column, and the output size, as ONNX's Conv defines them.</summary>
    private (int Top, int Left, int OutHeight, int OutWidth) Geometry(int height, int width)
    {
        var (effectiveHeight, effectiveWidth) = ((KernelHeight - 1) * Dilations[0] + 1, (KernelWidth - 1) * Dilations[1] + 1);
        switch (AutoPad)
        {
            case "SAME_UPPER" or "SAME_LOWER":
                var (outHeight, outWidth) = ((height + Strides[0] - 1) / Strides[0], (width + Strides[1] - 1) / Strides[1]);
                var padHeight = Math.Max(0, (outHeight - 1) * Strides[0] + effectiveHeight - height);
                var padWidth = Math.Max(0, (outWidth - 1) * Strides[1] + effectiveWidth - width);
                return AutoPad == "SAME_UPPER"
                    ? (padHeight / 2, padWidth / 2, outHeight, outWidth)
                    : (padHeight - padHeight / 2, padWidth - padWidth / 2, outHeight, outWidth);
            case "VALID":
                return (0, 0, (height - effectiveHeight) / Strides[0] + 1, (width - effectiveWidth) / Strides[1] + 1);
            default:
                return (Pads[0], Pads[1],
                    (height + Pads[0] + Pads[2] - effectiveHeight) / Strides[0] + 1,
                    (width + Pads[1] + Pads[3] - effectiveWidth) / Strides[1] + 1);
        }
    }
}
