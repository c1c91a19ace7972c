using Compression.Core.Diagnostics;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Google.Protobuf;

namespace Compression.Core.Onnx;

/// <summary>When tensors go to an external data file.</summary>
public enum ExternalDataMode
{
    /// <summary>Only when the model would otherwise pass protobuf's 2 GB limit.</summary>
    Auto,

    /// <summary>Always: every tensor at or above the size threshold goes out.</summary>
    Always,

    /// <summary>Never: a model past 2 GB is then refused.</summary>
    Never,
}

/// <summary>How to save a model.</summary>
public sealed record SaveOptions
{
    /// <summary>Replace an existing output file. Never enough to replace the model's own input file.</summary>
    public bool Overwrite { get; init; }

    /// <summary>Allow writing over the file the model was loaded from; only when a caller asks for it explicitly.</summary>
    public bool OverwriteInput { get; init; }

    public ExternalDataMode ExternalData { get; init; } = ExternalDataMode.Auto;

    /// <summary>Tensors of at least this many bytes go to the external file when tensors go out.</summary>
    public long ExternalDataThreshold { get; init; } = 1024;

    /// <summary>The external data file's name, beside the model; default: the model's file name plus <c>.data</c>.</summary>
    public string? ExternalDataFileName { get; init; }

    /// <summary>The model size above which <see cref="ExternalDataMode.Auto"/> moves tensors out (protobuf's limit, less headroom).</summary>
    public long AutoExternalDataLimit { get; init; } = ModelLoader.ProtobufLimit - (64L << 20);

    public static SaveOptions Default { get; } = new();
}

/// <summary>Saves models atomically: everything is written to temp files in the target folder, flushed, then renamed.</summary>
public static class ModelWriter
{
    /// <summary>Tensors of at least this size start at a multiple of 4096 in the external file, so they can be memory-mapped.</summary>
    private const long AlignThreshold = 1 << 20;
    private const long Alignment = 4096;

    /// <summary>Saves the model to <paramref name="path"/>; returns the files written (the model first).</summary>
    public static IReadOnlyList<string> Save(OnnxModel model, string path, SaveOptions? options = null)
    {
        options ??= SaveOptions.Default;
        var fullPath = Path.GetFullPath(path);
        CheckTarget(model, fullPath, options);

        var directory = Path.GetDirectoryName(fullPath)!;
        Directory.CreateDirectory(directory);
        var dataFileName = options.ExternalDataFileName ?? Path.GetFileName(fullPath) + ".data";
        var externalize = options.ExternalData == ExternalDataMode.Always
            || (options.ExternalData == ExternalDataMode.Auto && EstimateSize(model.Proto) > options.AutoExternalDataLimit);

        var proto = model.Proto;
        var temps = new List<(string Temp, string Final)>();
        try
        {
            if (externalize)
            {
                if (Path.GetFileName(dataFileName) != dataFileName || SafePath.ResolveInside(directory, dataFileName, out _) is null)
                {
                    throw Error(ErrorCodes.ExternalDataUnsafeLocation, $"The external data file name '{dataFileName}' must be a plain file name.", fullPath);
                }

                var dataPath = Path.Combine(directory, dataFileName);
                if (File.Exists(dataPath) && !options.Overwrite)
                {
                    throw Error(ErrorCodes.OutputExists, $"The external data file '{dataPath}' already exists; pass the overwrite option to replace it.", fullPath);
                }

                if (model.Path is not null && model.ExternalDataFiles.Any(f => SafePath.SameFile(Path.Combine(model.Directory!, f), dataPath)) && !options.OverwriteInput)
                {
                    throw Error(ErrorCodes.OutputIsInput, $"The external data file '{dataPath}' belongs to the input model; it is never overwritten.", fullPath);
                }

                var dataTemp = TempPathFor(dataPath);
                temps.Add((dataTemp, dataPath));
                proto = proto.Clone(); // Cheap: tensor bytes are immutable and shared, only the messages are copied.
                if (WriteExternalData(proto, dataTemp, dataFileName, options.ExternalDataThreshold) == 0)
                {
                    File.Delete(dataTemp);
                    temps.Clear();
                }
            }
            else if (EstimateSize(proto) >= ModelLoader.ProtobufLimit)
            {
                throw Error(ErrorCodes.ModelTooLarge,
                    $"The model holds {TensorCodec.FormatBytes(EstimateSize(proto))} of data, past protobuf's 2 GB limit; save it with external data.", fullPath);
            }

            var modelTemp = TempPathFor(fullPath);
            temps.Add((modelTemp, fullPath));
            using (var stream = new FileStream(modelTemp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                WeightWire.Write(proto, stream);
                stream.Flush(flushToDisk: true);
            }

            // The data file lands first, so a model file never points at missing data.
            foreach (var (temp, final) in temps)
            {
                File.Move(temp, final, overwrite: true);
            }

            return temps.ConvertAll(t => t.Final).OrderBy(f => f == fullPath ? 0 : 1).ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Error(ErrorCodes.WriteFailed, $"The model could not be written: {e.Message}", fullPath, e);
        }
        finally
        {
            foreach (var (temp, _) in temps)
            {
                TryDelete(temp);
            }
        }
    }

    /// <summary>Writes the model to a stream (no external data; a model past 2 GB is refused).</summary>
    public static void Save(OnnxModel model, Stream stream)
    {
        if (EstimateSize(model.Proto) >= ModelLoader.ProtobufLimit)
        {
            throw Error(ErrorCodes.ModelTooLarge, "The model is past protobuf's 2 GB limit; save it to a file with external data.", null);
        }

        model.Proto.WriteTo(stream);
    }

    /// <summary>The model's serialized size, counted in 64 bits so that models past 2 GB are measured too.</summary>
    public static long EstimateSize(ModelProto proto)
    {
        long total = 0;
        var tensors = new List<TensorProto>();
        foreach (var tensor in ModelWalker.Tensors(proto))
        {
            if (tensor.HasRawData)
            {
                total += tensor.RawData.Length + 8;
                tensors.Add(tensor);
            }
        }

        // Everything but the raw bytes is small: measure it with the bytes taken out, then put them back.
        var saved = new ByteString[tensors.Count];
        for (var i = 0; i < tensors.Count; i++)
        {
            saved[i] = tensors[i].RawData;
            tensors[i].RawData = ByteString.Empty;
        }

        try
        {
            return total + proto.CalculateSize();
        }
        finally
        {
            for (var i = 0; i < tensors.Count; i++)
            {
                tensors[i].RawData = saved[i];
            }
        }
    }

    private static void CheckTarget(OnnxModel model, string fullPath, SaveOptions options)
    {
        if (Directory.Exists(fullPath))
        {
            throw Error(ErrorCodes.ModelPathIsDirectory, "The output path is a directory; give a file name.", fullPath);
        }

        if (model.Path is not null && SafePath.SameFile(model.Path, fullPath) && !options.OverwriteInput)
        {
            throw Error(ErrorCodes.OutputIsInput, "The output path is the input model itself; the input is never overwritten.", fullPath);
        }

        if (File.Exists(fullPath) && !options.Overwrite && !options.OverwriteInput)
        {
            throw Error(ErrorCodes.OutputExists, "The output file already exists; pass the overwrite option (-Force) to replace it.", fullPath);
        }
    }

    /// <summary>Moves every tensor of at least <paramref name="threshold"/> bytes into the data file; returns how many moved.</summary>
    private static int WriteExternalData(ModelProto proto, string dataTemp, string location, long threshold)
    {
        var moved = 0;
        using var stream = new FileStream(dataTemp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16);
        foreach (var tensor in ModelWalker.Tensors(proto))
        {
            if (!ElementTypes.IsFixedWidth(TensorCodec.ElementTypeOf(tensor)) || TensorCodec.StoredByteLength(tensor) < threshold)
            {
                continue;
            }

            TensorCodec.ConvertToRaw(tensor);

            if (tensor.RawData.Length >= AlignThreshold && stream.Position % Alignment != 0)
            {
                stream.Write(new byte[Alignment - stream.Position % Alignment]);
            }

            var offset = stream.Position;
            FileWriter.Write(stream, tensor.RawData);
            new ExternalDataInfo(location, offset, tensor.RawData.Length, null).ApplyTo(tensor);
            moved++;
        }

        stream.Flush(flushToDisk: true);
        return moved;
    }

    private static string TempPathFor(string finalPath) =>
        Path.Combine(Path.GetDirectoryName(finalPath)!, $".{Path.GetFileName(finalPath)}.{Guid.NewGuid():N}.tmp");

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private static CompressionException Error(string code, string message, string? file, Exception? inner = null) =>
        new(Diagnostic.Error(code, message, file), inner);
}
