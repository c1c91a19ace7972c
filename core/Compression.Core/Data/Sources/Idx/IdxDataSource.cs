using Compression.Core.Data.Sampling;

namespace Compression.Core.Data.Sources.Idx;

/// <summary>
/// MNIST-style IDX data: an images file and an optional labels file (int64 labels), gzipped or not. Pixels are
/// normalized (<c>pixel * scale - mean) / std</c>) and reshaped to the model's single input, e.g. [1,1,28,28]
/// or [N,784]. Plain files are read with seeks; gzipped ones stream, shuffled within a window.
/// </summary>
public sealed class IdxDataSource : IDataSource
{
    private readonly string imagesPath;
    private readonly string? labelsPath;
    private readonly SampleSelection selection;
    private readonly Normalization normalization;

    public IdxDataSource(string imagesPath, string? labelsPath, SampleSelection selection, Normalization normalization, string? name = null)
    {
        this.imagesPath = imagesPath;
        this.labelsPath = labelsPath;
        this.selection = selection;
        this.normalization = normalization;
        Name = name ?? System.IO.Path.GetFileName(imagesPath);
    }

    public string Name { get; }

    public bool IsSynthetic => false;

    public long? Count => selection.Count(IdxFile.Open(imagesPath).Count);

    public IEnumerable<DataBatch> ReadBatches(ModelSignature model, int batchSize, CancellationToken cancellationToken = default)
    {
        var images = IdxFile.Open(imagesPath);
        var labels = labelsPath is null ? null : IdxFile.Open(labelsPath);
        if (labels is not null && (labels.Count != images.Count || labels.SampleBytes != 1))
        {
            throw DataErrors.Shape(labelsPath!, $"The labels file '{labelsPath}' holds {labels.Count} labels of shape [{string.Join(",", labels.SampleDims)}] " +
                $"but the images file '{imagesPath}' holds {images.Count} images; one label per image is needed.");
        }

        if (model.Inputs.Count != 1)
        {
            throw DataErrors.Names(imagesPath, $"IDX data feeds a model with one input; this model has {model.Inputs.Count} ({string.Join(", ", model.Inputs)}).");
        }

        var input = model.Inputs[0];
        var sampleDims = BatchShapes.SampleDims(input, images.SampleDims, imagesPath);
        var channels = ChannelCount(sampleDims, images.SampleDims);
        normalization.RequireChannels(channels, imagesPath);
        var size = BatchShapes.BatchSize(model, batchSize, imagesPath, out var exact);
        selection.RequireSamples(images.Count, imagesPath);
        return Read(images, labels, input, sampleDims, channels, size, exact, cancellationToken);
    }

    private IEnumerable<DataBatch> Read(IdxFile images, IdxFile? labels, InputSpec input, long[] sampleDims, int channels, int size, bool exact, CancellationToken cancellationToken)
    {
        var pixels = new float[images.SampleBytes];
        var normalized = new float[images.SampleBytes];
        foreach (var batch in Batcher.Chunk(Samples(images, labels), size, exact, cancellationToken))
        {
            var values = ElementConversion.Allocate(input.Type, (long)batch.Count * images.SampleBytes, input.Name, imagesPath);
            var labelValues = labels is null ? null : new long[batch.Count];
            for (var i = 0; i < batch.Count; i++)
            {
                var (image, label) = batch[i];
                Widen(image, pixels);
                normalization.Planar(pixels, normalized, channels);
                ElementConversion.Write(normalized, values, i * images.SampleBytes);
                if (labelValues is not null)
                {
                    labelValues[i] = label;
                }
            }

            yield return new DataBatch(
                batch.Count,
                [new TensorData(input.Name, input.Type, BatchShapes.WithBatch(batch.Count, sampleDims), values)],
                labelValues is null ? null : TensorData.Int64("labels", [batch.Count], labelValues));
        }
    }

    /// <summary>Image and label pairs in reading order; label 0 when there is no labels file.</summary>
    private IEnumerable<(byte[] Image, long Label)> Samples(IdxFile images, IdxFile? labels)
    {
        if (images.IsGzipped || labels?.IsGzipped == true)
        {
            var inOrder = labels is null
                ? images.ReadAll().Select(image => (image, 0L))
                : images.ReadAll().Zip(labels.ReadAll(), (image, label) => (image, (long)label[0]));
            return selection.Apply(inOrder);
        }

        var indices = selection.Indices(checked((int)images.Count));
        return labels is null
            ? images.ReadAt(indices).Select(image => (image, 0L))
            : images.ReadAt(indices).Zip(labels.ReadAt(selection.Indices(checked((int)images.Count))), (image, label) => (image, (long)label[0]));
    }

    /// <summary>Channels of a sample: the first dim when the file holds [C,H,W] samples, else 1 (grey).</summary>
    private static int ChannelCount(long[] modelSampleDims, long[] fileSampleDims) =>
        modelSampleDims.Length == 3 && fileSampleDims.Length == 3 ? checked((int)fileSampleDims[0]) : 1;

    private static void Widen(ReadOnlySpan<byte> source, Span<float> destination)
    {
        for (var i = 0; i < source.Length; i++)
        {
            destination[i] = source[i];
        }
    }
}
