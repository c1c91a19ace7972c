using Compression.Core.Diagnostics;
using Compression.Core.Evaluation;
using Compression.Core.Onnx.Protobuf;

namespace Compression.Core.Calibration;

/// <summary>
/// How a Conv with any number of spatial dims reads its [N, C, D1, ..., Dk] input (k = 1 for a Conv1d, 2, 3 for a
/// Conv3d): every output position's receptive field, zeros where it reaches into the padding, is one row of
/// C x k1 x ... x kk features in the order of the weight's [C, k1, ..., kk] layout. Those rows are what the Conv
/// multiplies its weight with, so their Hessian is the Conv's, and a least-squares refit of the weight works on them.
/// Of a Conv with <see cref="Groups"/> groups, the patches are those of one <see cref="Group"/>: its
/// <see cref="Channels"/> input channels.
/// </summary>
internal sealed record ConvPatches(int Channels, int[] Kernel, int[] Strides, int[] Dilations, int[] Pads, string AutoPad, int Groups = 1, int Group = 0)
{
    /// <summary>Values of patches added to the Hessian in one update (16 M floats, 64 MB).</summary>
    private const long ValuesPerUpdate = 16L << 20;

    /// <summary>Kernel positions: the features each input channel contributes to a row.</summary>
    public int Taps { get; } = Kernel.Aggregate(1, (a, b) => a * b);

    public int Size => Channels * Taps;

    /// <summary>The patches of a Conv node with a [C_out, C_in / groups, k1, ..., kk] weight, for its conv group <paramref name="group"/>.</summary>
    public static ConvPatches Of(NodeProto node, IReadOnlyList<long> weightDims, int groups = 1, int group = 0)
    {
        var spatial = weightDims.Count - 2;
        int[] Ints(string name, int count, int fill) => node.Attribute.FirstOrDefault(a => a.Name == name) is { Ints.Count: > 0 } a
            ? a.Ints.Select(i => (int)i).ToArray()
            : Enumerable.Repeat(fill, count).ToArray();
        return new ConvPatches((int)weightDims[1], weightDims.Skip(2).Select(k => (int)k).ToArray(), Ints("strides", spatial, 1), Ints("dilations", spatial, 1),
            Ints("pads", 2 * spatial, 0), node.Attribute.FirstOrDefault(a => a.Name == "auto_pad")?.S.ToStringUtf8() ?? "NOTSET", groups, group);
    }

    public string Key => $"{Channels}x{string.Join("x", Kernel)}/s{string.Join(",", Strides)}/d{string.Join(",", Dilations)}/p{string.Join(",", Pads)}/{AutoPad}/g{Group}of{Groups}";

    /// <summary>The input shape the Conv reads, for messages: [N, C, L], [N, C, H, W] or [N, C, D, H, W].</summary>
    public string ExpectedShape => $"[N, {(long)Channels * Groups}, {Kernel.Length switch { 1 => "L", 2 => "H, W", 3 => "D, H, W", _ => string.Join(", ", Kernel.Select((_, i) => $"D{i + 1}")) }}]";

    /// <summary>Whether an activation has the Conv's rank and input channels.</summary>
    public bool Fits(IReadOnlyList<long> shape) => shape.Count == Kernel.Length + 2 && shape[1] == (long)Channels * Groups;

    /// <summary>Output positions (rows of patches) of one image of an input of <paramref name="shape"/>.</summary>
    public int Positions(IReadOnlyList<long> shape) => Geometry(shape).Output.Aggregate(1, (a, b) => a * b);

    /// <summary>
    /// Adds the patches of one captured batch to the accumulator, <see cref="ImagesPerUpdate"/> images at a time: each entry of the Hessian is then one long dot product instead of one per
    /// image (a 480-channel 3x3 Conv on a 3x80 map has 4,320 features and only 240 rows per image).
    /// </summary>
    public void AddTo(HessianAccumulator accumulator, OutputValue activation, string value)
    {
        if (!Fits(activation.Shape))
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.CalibrationDataMismatch,
                $"The input '{value}' of a Conv came out as [{string.Join(", ", activation.Shape)}] on the calibration data; it must be {ExpectedShape}."));
        }

        var batch = (int)activation.Shape[0];
        var imageValues = (long)Positions(activation.Shape) * Size;
        var imagesPerUpdate = ImagesPerUpdate(activation.Shape);
        var rows = new float[imagesPerUpdate * imageValues];
        for (var first = 0; first < batch; first += imagesPerUpdate)
        {
            var count = Math.Min(imagesPerUpdate, batch - first);
            for (var i = 0; i < count; i++)
            {
                Extract(activation, first + i, rows.AsSpan((int)(i * imageValues), (int)imageValues));
            }

            accumulator.Add(rows.AsSpan(0, (int)(count * imageValues)), []);
        }
    }

    /// <summary>
    /// How many images of a batch of <paramref name="shape"/> to unfold for one update of an accumulator: as many as fit
    /// in <see cref="ValuesPerUpdate"/> values, since every update costs a pass over all feature pairs however few rows it brings.
    /// </summary>
    public int ImagesPerUpdate(IReadOnlyList<long> shape) => (int)Math.Clamp(ValuesPerUpdate / Math.Max(1, (long)Positions(shape) * Size), 1, shape[0]);

    /// <summary>
    /// Writes the patches of image <paramref name="image"/> of a batch that <see cref="Fits"/>, row by row (output
    /// positions in row-major order, as the Conv's output lays them out), into <paramref name="rows"/>: every value
    /// is written, padding as 0.
    /// </summary>
    public void Extract(OutputValue activation, int image, Span<float> rows)
    {
        var shape = activation.Shape;
        var (before, output) = Geometry(shape);
        var rank = Kernel.Length;
        var plane = 1;
        var inputStrides = new int[rank];
        for (var d = rank - 1; d >= 0; d--)
        {
            inputStrides[d] = plane;
            plane *= (int)shape[d + 2];
        }

        var values = activation.Values.AsSpan(((image * Groups + Group) * Channels) * plane, Channels * plane);
        var position = new int[rank];
        var tap = new int[rank];
        var offsets = new int[Taps]; // per tap, where it reads in a channel's plane at this output position; -1 in the padding
        for (var row = 0; row < rows.Length / Size; row++)
        {
            Array.Clear(tap);
            for (var t = 0; t < Taps; t++)
            {
                var offset = 0;
                for (var d = 0; d < rank && offset >= 0; d++)
                {
                    var at = position[d] * Strides[d] - before[d] + tap[d] * Dilations[d];
                    offset = at >= 0 && at < shape[d + 2] ? offset + at * inputStrides[d] : -1;
                }

                offsets[t] = offset;
                Next(tap, Kernel);
            }

            var target = rows.Slice(row * Size, Size);
            for (var c = 0; c < Channels; c++)
            {
                var channel = values.Slice(c * plane, plane);
                var features = target.Slice(c * Taps, Taps);
                for (var t = 0; t < Taps; t++)
                {
                    features[t] = offsets[t] >= 0 ? channel[offsets[t]] : 0;
                }
            }

            Next(position, output);
        }
    }

    /// <summary>Steps a row-major multi-index within <paramref name="sizes"/> (the last dim fastest).</summary>
    private static void Next(int[] index, int[] sizes)
    {
        for (var d = index.Length - 1; d >= 0; d--)
        {
            if (++index[d] < sizes[d])
            {
                return;
            }

            index[d] = 0;
        }
    }

    /// <summary>The padding before the first position along each spatial dim, and the output size, as ONNX's Conv defines them.</summary>
    private (int[] Before, int[] Output) Geometry(IReadOnlyList<long> shape)
    {
        var rank = Kernel.Length;
        var (before, output) = (new int[rank], new int[rank]);
        for (var d = 0; d < rank; d++)
        {
            var size = (int)shape[d + 2];
            var effective = (Kernel[d] - 1) * Dilations[d] + 1;
            switch (AutoPad)
            {
                case "SAME_UPPER" or "SAME_LOWER":
                    output[d] = (size + Strides[d] - 1) / Strides[d];
                    var total = Math.Max(0, (output[d] - 1) * Strides[d] + effective - size);
                    before[d] = AutoPad == "SAME_UPPER" ? total / 2 : total - total / 2;
                    break;
                case "VALID":
                    output[d] = (size - effective) / Strides[d] + 1;
                    break;
                default:
                    before[d] = Pads[d];
                    output[d] = (size + Pads[d] + Pads[d + rank] - effective) / Strides[d] + 1;
                    break;
            }
        }

        return (before, output);
    }
}
