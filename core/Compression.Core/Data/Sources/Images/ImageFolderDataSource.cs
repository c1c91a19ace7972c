using System.Globalization;
using Compression.Core.Data.Sampling;
using StbImageSharp;

namespace Compression.Core.Data.Sources.Images;

/// <summary>
/// A folder of PNG and JPEG images (searched recursively, read in path order), decoded, resized (bilinear),
/// center-cropped, put in the model's channel order and layout, then scaled and normalized per channel.
/// Labels come from a labels file (<c>file&lt;TAB&gt;label</c>, the label a class index or a class name) or from
/// the first-level sub-folder names (sorted; index = class); a flat folder without a labels file has none.
/// </summary>
public sealed class ImageFolderDataSource : IDataSource
{
    private static readonly string[] Extensions = [".png", ".jpg", ".jpeg"];

    private readonly string folder;
    private readonly ImageOptions options;
    private readonly SampleSelection selection;
    private List<string>? files;

    public ImageFolderDataSource(string folder, ImageOptions options, SampleSelection selection, string? name = null)
    {
        if (!Directory.Exists(folder))
        {
            throw DataErrors.Missing(folder, "Images folder");
        }

        this.folder = folder;
        this.options = options;
        this.selection = selection;
        Name = name ?? System.IO.Path.GetFileName(System.IO.Path.TrimEndingDirectorySeparator(folder));
    }

    public string Name { get; }

    public bool IsSynthetic => false;

    public long? Count => selection.Count(Files.Count);

    private List<string> Files => files ??= Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
        .Where(f => Extensions.Contains(System.IO.Path.GetExtension(f).ToLowerInvariant()))
        .Order(StringComparer.Ordinal)
        .ToList();

    public IEnumerable<DataBatch> ReadBatches(ModelSignature model, int batchSize, CancellationToken cancellationToken = default)
    {
        if (model.Inputs.Count != 1 || model.Inputs[0].Dims.Length != 4)
        {
            throw DataErrors.Names(folder, $"Image data feeds a model with one 4-D image input; this model has {string.Join(", ", model.Inputs)}.");
        }

        var input = model.Inputs[0];
        var (channels, height, width) = options.Layout == TensorLayout.Nchw
            ? (input.Dims[1], input.Dims[2], input.Dims[3])
            : (input.Dims[3], input.Dims[1], input.Dims[2]);
        if (channels is not (1 or 3 or -1))
        {
            throw DataErrors.Shape(folder, $"The model input {input} has {channels} channels in {options.Layout} layout; images give 1 (grey) or 3.");
        }

        var channelCount = channels == 1 ? 1 : 3;
        options.Normalization.RequireChannels(channelCount, folder);
        var labels = Labels();
        var size = BatchShapes.BatchSize(model, batchSize, folder, out var exact);
        selection.RequireSamples(Files.Count, folder);
        var resize = options.Resize ?? (options.Crop is null && height > 0 && width > 0 ? new ImageSize((int)width, (int)height, false) : null);
        return Read(input, channelCount, resize, labels, size, exact, cancellationToken);
    }

    private IEnumerable<DataBatch> Read(InputSpec input, int channels, ImageSize? resize, long[]? labels, int size, bool exact, CancellationToken cancellationToken)
    {
        foreach (var indices in Batcher.Chunk(selection.Indices(Files.Count), size, exact, cancellationToken))
        {
            Array? values = null;
            long[]? sampleDims = null;
            for (var i = 0; i < indices.Count; i++)
            {
                var file = Files[indices[i]];
                var (pixels, width, height) = Prepare(file, channels, resize);
                long[] dims = options.Layout == TensorLayout.Nchw ? [channels, height, width] : [height, width, channels];
                if (sampleDims is null)
                {
                    sampleDims = BatchShapes.SampleDims(input, dims, file);
                    values = ElementConversion.Allocate(input.Type, (long)indices.Count * pixels.Length, input.Name, file);
                }
                else if (!sampleDims.AsSpan().SequenceEqual(dims))
                {
                    throw DataErrors.Shape(file, $"'{file}' gives [{string.Join(",", dims)}] but the batch's first image gave [{string.Join(",", sampleDims)}]; " +
                        "set resize or crop so every image has the same size.");
                }

                ElementConversion.Write(pixels, values!, i * pixels.Length);
            }

            var labelValues = labels is null ? null : indices.Select(index => labels[index]).ToArray();
            yield return new DataBatch(indices.Count,
                [new TensorData(input.Name, input.Type, BatchShapes.WithBatch(indices.Count, sampleDims!), values!)],
                labelValues is null ? null : TensorData.Int64("labels", [indices.Count], labelValues));
        }
    }

    /// <summary>Decodes one image and applies resize, crop, channel order, normalization and layout.</summary>
    private (float[] Pixels, int Width, int Height) Prepare(string file, int channels, ImageSize? resize)
    {
        ImageResult image;
        try
        {
            image = ImageResult.FromMemory(File.ReadAllBytes(file), channels == 1 ? ColorComponents.Grey : ColorComponents.RedGreenBlue);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw DataErrors.Corrupt(file, $"'{file}' cannot be decoded as a PNG or JPEG image: {e.Message}", inner: e);
        }

        var (width, height) = (image.Width, image.Height);
        var pixels = new float[image.Data.Length];
        for (var i = 0; i < pixels.Length; i++)
        {
            pixels[i] = image.Data[i];
        }

        if (resize is not null)
        {
            var (newWidth, newHeight) = resize.IsSingleSide
                ? width <= height
                    ? (resize.Width, Math.Max(1, (int)Math.Round((double)height * resize.Width / width)))
                    : (Math.Max(1, (int)Math.Round((double)width * resize.Width / height)), resize.Width)
                : (resize.Width, resize.Height);
            var resized = new float[newWidth * newHeight * channels];
            ImageTransforms.ResizeBilinear(pixels, width, height, channels, resized, newWidth, newHeight);
            (pixels, width, height) = (resized, newWidth, newHeight);
        }

        if (options.Crop is { } crop)
        {
            if (crop.Width > width || crop.Height > height)
            {
                throw DataErrors.Option(file, $"The crop {crop.Width}x{crop.Height} is larger than '{file}' ({width}x{height} after resizing); resize first.");
            }

            var cropped = new float[crop.Width * crop.Height * channels];
            ImageTransforms.CenterCrop(pixels, width, height, channels, cropped, crop.Width, crop.Height);
            (pixels, width, height) = (cropped, crop.Width, crop.Height);
        }

        if (options.ChannelOrder == ChannelOrder.Bgr && channels == 3)
        {
            ImageTransforms.ReverseChannels(pixels, channels);
        }

        options.Normalization.Interleaved(pixels, pixels, channels);
        if (options.Layout == TensorLayout.Nchw && channels > 1)
        {
            var planar = new float[pixels.Length];
            ImageTransforms.ToPlanar(pixels, planar, channels);
            pixels = planar;
        }

        return (pixels, width, height);
    }

    /// <summary>The class index of each file, or null when the set has no labels.</summary>
    private long[]? Labels()
    {
        var relative = Files.Select(f => System.IO.Path.GetRelativePath(folder, f).Replace('\\', '/')).ToList();
        if (options.LabelsFile is { } labelsFile)
        {
            return FromLabelsFile(labelsFile, relative);
        }

        if (relative.Count == 0 || !relative.TrueForAll(r => r.Contains('/')))
        {
            return null;
        }

        var classes = relative.Select(r => r[..r.IndexOf('/')]).Distinct().Order(StringComparer.Ordinal).ToList();
        return relative.Select(r => (long)classes.BinarySearch(r[..r.IndexOf('/')], StringComparer.Ordinal)).ToArray();
    }

    private static long[] FromLabelsFile(string labelsFile, List<string> relative)
    {
        var byFile = new Dictionary<string, string>(StringComparer.Ordinal);
        var lineNumber = 0;
        foreach (var line in File.ReadLines(DataErrors.RequireFile(labelsFile, "Labels file")))
        {
            lineNumber++;
            if (line.Length == 0)
            {
                continue;
            }

            var tab = line.IndexOf('\t');
            if (tab <= 0)
            {
                throw DataErrors.Corrupt(labelsFile, $"Line {lineNumber} of '{labelsFile}' is not 'file<TAB>label'.", lineNumber);
            }

            byFile[line[..tab].Replace('\\', '/')] = line[(tab + 1)..].Trim();
        }

        var names = byFile.Values.Where(v => !long.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out _)).Distinct().Order(StringComparer.Ordinal).ToList();
        var labels = new long[relative.Count];
        for (var i = 0; i < relative.Count; i++)
        {
            if (!byFile.TryGetValue(relative[i], out var label) && !byFile.TryGetValue(System.IO.Path.GetFileName(relative[i]), out label))
            {
                throw DataErrors.Corrupt(labelsFile, $"'{labelsFile}' gives no label for the image '{relative[i]}'.");
            }

            labels[i] = long.TryParse(label, NumberStyles.None, CultureInfo.InvariantCulture, out var index) ? index : names.BinarySearch(label, StringComparer.Ordinal);
        }

        return labels;
    }
}
