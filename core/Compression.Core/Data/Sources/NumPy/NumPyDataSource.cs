using Compression.Core.Data.Sampling;
using Compression.Core.Onnx.Tensors;

namespace Compression.Core.Data.Sources.NumPy;

/// <summary>
/// NumPy arrays, one per model input, the first dim being the samples: a <c>.npy</c> file for a one-input model
/// (labels from another <c>.npy</c>), or an <c>.npz</c> archive whose members match the inputs by name (member
/// <c>x.npy</c> feeds input <c>x</c>) or, failing that, by order (labels from the member the labels option names).
/// .npy files are read sample by sample with seeks; .npz members are streamed and shuffled within a window.
/// Integer labels become int64, floating-point ones float.
/// </summary>
public sealed class NumPyDataSource : IDataSource
{
    private readonly string path;
    private readonly string? labels;
    private readonly bool isArchive;
    private readonly SampleSelection selection;

    private NumPyDataSource(string path, string? labels, bool isArchive, SampleSelection selection, string? name)
    {
        this.path = path;
        this.labels = labels;
        this.isArchive = isArchive;
        this.selection = selection;
        Name = name ?? System.IO.Path.GetFileName(path);
    }

    public string Name { get; }

    public bool IsSynthetic => false;

    public long? Count => selection.Count(Open().Data[0].Header.Count);

    /// <summary>An .npy file for a one-input model, with an optional .npy file of labels.</summary>
    public static NumPyDataSource FromNpy(string path, string? labelsPath, SampleSelection selection, string? name = null) =>
        new(path, labelsPath, isArchive: false, selection, name);

    /// <summary>An .npz archive; <paramref name="labelsMember"/> names the member holding labels (with or without .npy).</summary>
    public static NumPyDataSource FromNpz(string path, string? labelsMember, SampleSelection selection, string? name = null) =>
        new(path, labelsMember, isArchive: true, selection, name);

    public IEnumerable<DataBatch> ReadBatches(ModelSignature model, int batchSize, CancellationToken cancellationToken = default)
    {
        var (data, labelArray) = Open();
        var arrays = Match(model, data);
        var count = arrays[0].Header.Count;
        foreach (var array in labelArray is null ? arrays : [.. arrays, labelArray])
        {
            array.RequireComplete();
            if (array.Header.Count != count)
            {
                throw DataErrors.Shape(array.DisplayPath, $"'{array.DisplayPath}' holds {array.Header.Count} samples but '{arrays[0].DisplayPath}' holds {count}; " +
                    "every array of a data set needs the same first dim.");
            }
        }

        if (labelArray is not null && labelArray.Header.SampleElements != 1)
        {
            throw DataErrors.Shape(labelArray.DisplayPath, $"The labels '{labelArray.DisplayPath}' have shape [{string.Join(",", labelArray.Header.Shape)}]; one value per sample is needed.");
        }

        var sampleDims = model.Inputs.Select((input, k) => BatchShapes.SampleDims(input, arrays[k].Header.SampleDims, arrays[k].DisplayPath)).ToArray();
        var size = BatchShapes.BatchSize(model, batchSize, path, out var exact);
        selection.RequireSamples(count, path);
        return Read(model, arrays, labelArray, sampleDims, size, exact, cancellationToken);
    }

    private IEnumerable<DataBatch> Read(ModelSignature model, NpyArray[] arrays, NpyArray? labelArray, long[][] sampleDims, int size, bool exact, CancellationToken cancellationToken)
    {
        var sources = labelArray is null ? arrays : [.. arrays, labelArray];
        var labelType = labelArray is null ? ElementType.Undefined
            : ElementTypes.IsFloatingPoint(labelArray.Header.Type) ? ElementType.Float : ElementType.Int64;
        foreach (var samples in Batcher.Chunk(Samples(sources), size, exact, cancellationToken))
        {
            var tensors = new List<TensorData>(arrays.Length);
            for (var k = 0; k < arrays.Length; k++)
            {
                var input = model.Inputs[k];
                var header = arrays[k].Header;
                var values = ElementConversion.Allocate(input.Type, (long)samples.Count * header.SampleElements, input.Name, arrays[k].DisplayPath);
                for (var i = 0; i < samples.Count; i++)
                {
                    ElementConversion.WriteRaw(samples[i][k], header.Type, header.SampleElements, values, i * header.SampleElements);
                }

                tensors.Add(new TensorData(input.Name, input.Type, BatchShapes.WithBatch(samples.Count, sampleDims[k]), values));
            }

            TensorData? labelTensor = null;
            if (labelArray is not null)
            {
                var values = ElementConversion.Allocate(labelType, samples.Count, "labels", labelArray.DisplayPath);
                for (var i = 0; i < samples.Count; i++)
                {
                    ElementConversion.WriteRaw(samples[i][arrays.Length], labelArray.Header.Type, 1, values, i);
                }

                labelTensor = new TensorData("labels", labelType, [samples.Count], values);
            }

            yield return new DataBatch(samples.Count, tensors, labelTensor);
        }
    }

    /// <summary>One buffer per array for each sample, in reading order.</summary>
    private IEnumerable<byte[][]> Samples(NpyArray[] arrays)
    {
        if (arrays.All(a => a.CanSeek))
        {
            var total = checked((int)arrays[0].Header.Count);
            return Zip(arrays.Select(a => a.ReadAt(selection.Indices(total))).ToArray());
        }

        return selection.Apply(Zip(arrays.Select(a => a.ReadAll()).ToArray()));
    }

    private static IEnumerable<byte[][]> Zip(IEnumerable<byte[]>[] streams)
    {
        var enumerators = streams.Select(s => s.GetEnumerator()).ToArray();
        try
        {
            while (enumerators.All(e => e.MoveNext()))
            {
                yield return enumerators.Select(e => e.Current).ToArray();
            }
        }
        finally
        {
            foreach (var enumerator in enumerators)
            {
                enumerator.Dispose();
            }
        }
    }

    private (List<NpyArray> Data, NpyArray? Labels) Open()
    {
        if (!isArchive)
        {
            return ([NpyArray.OpenFile(path)], labels is null ? null : NpyArray.OpenFile(labels));
        }

        var members = NpyArray.OpenArchive(path);
        var labelName = labels is null ? null : labels.EndsWith(".npy", StringComparison.Ordinal) ? labels[..^4] : labels;
        var labelArray = labelName is null ? null
            : members.Find(m => m.Name == labelName) ?? throw DataErrors.Names(path,
                $"The labels member '{labelName}' is not in '{path}', which holds {string.Join(", ", members.Select(m => m.Name))}.");
        var data = members.Where(m => m != labelArray).ToList();
        if (data.Count == 0)
        {
            throw DataErrors.Empty(path, $"'{path}' holds no .npy arrays besides its labels.");
        }

        return (data, labelArray);
    }

    /// <summary>The array for each model input: by name when every input has one, else by order when counts agree.</summary>
    private NpyArray[] Match(ModelSignature model, List<NpyArray> data)
    {
        var byName = model.Inputs.Select(input => data.Find(a => a.Name == input.Name)).ToArray();
        if (Array.TrueForAll(byName, a => a is not null))
        {
            return byName!;
        }

        if (data.Count == model.Inputs.Count)
        {
            return [.. data];
        }

        throw DataErrors.Names(path, $"The arrays of '{path}' ({string.Join(", ", data.Select(a => a.Name))}) match the model's inputs " +
            $"({string.Join(", ", model.Inputs.Select(i => i.Name))}) neither by name nor by count.");
    }
}
