using Compression.Core.Diagnostics;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Google.Protobuf;

namespace Compression.Core.Onnx;

/// <summary>How to load a model.</summary>
public sealed record LoadOptions
{
    /// <summary>
    /// Read external data into memory (the default). When false, external references are still checked
    /// (safe location, file present, range inside the file) but the bytes stay on disk: enough for inspection.
    /// </summary>
    public bool LoadExternalData { get; init; } = true;

    /// <summary>
    /// Files of at least this many bytes are memory-mapped, and their large tensors point into the mapping
    /// instead of being copied (0: always; <see cref="long.MaxValue"/>: never). Not used on Windows, where a
    /// mapped file could not be replaced while the model is in use.
    /// </summary>
    public long MemoryMapThreshold { get; init; } = 1 << 20;

    public static LoadOptions Default { get; } = new();

    public static LoadOptions MetadataOnly { get; } = new() { LoadExternalData = false };
}

/// <summary>Loads ONNX models from files or streams and checks them before anyone relies on them.</summary>
public static class ModelLoader
{
    /// <summary>Protobuf cannot hold a message of 2 GB or more; such a model must keep its weights in external data.</summary>
    public const long ProtobufLimit = int.MaxValue;

    public static OnnxModel Load(string path, LoadOptions? options = null)
    {
        options ??= LoadOptions.Default;
        var fullPath = Path.GetFullPath(path);
        if (Directory.Exists(fullPath))
        {
            throw Error(ErrorCodes.ModelPathIsDirectory, "The path is a directory, not an ONNX model file.", fullPath);
        }

        if (!File.Exists(fullPath))
        {
            throw Error(ErrorCodes.ModelNotFound, "The model file does not exist.", fullPath);
        }

        var length = new FileInfo(fullPath).Length;
        if (length == 0)
        {
            throw Error(ErrorCodes.ModelEmpty, "The model file is empty (0 bytes).", fullPath);
        }

        if (length >= ProtobufLimit)
        {
            throw Error(ErrorCodes.ModelTooLarge,
                $"The model file is {TensorCodec.FormatBytes(length)}; a protobuf message cannot reach 2 GB, so this is not a valid ONNX model file " +
                "(large models keep their weights in external data files).", fullPath);
        }

        ModelProto proto;
        try
        {
            using var stream = new FileStream(fullPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
            CheckFormat(stream, fullPath);
            proto = (Mappable(length, options) ? ParseMapped(fullPath) : null) ?? Parse(stream, fullPath);
        }
        catch (IOException e) when (e is not FileNotFoundException)
        {
            throw Error(ErrorCodes.ReadFailed, $"The model file could not be read: {e.Message}", fullPath, e);
        }
        catch (UnauthorizedAccessException e)
        {
            throw Error(ErrorCodes.ReadFailed, $"The model file could not be read: {e.Message}", fullPath, e);
        }

        var externalFiles = ResolveTensors(proto, Path.GetDirectoryName(fullPath)!, fullPath, options, out var externalBytes);
        return new OnnxModel(proto, fullPath, externalFiles, length + externalBytes)
        {
            HasUnloadedExternalData = !options.LoadExternalData && externalFiles.Count > 0,
        };
    }

    /// <summary>
    /// Loads a model from a stream. External data locations resolve against <paramref name="baseDirectory"/>;
    /// without one, a model that refers to external data is refused.
    /// </summary>
    public static OnnxModel Load(Stream stream, string? baseDirectory = null, LoadOptions? options = null, string? displayName = null)
    {
        options ??= LoadOptions.Default;
        CheckFormat(stream, displayName);
        var proto = Parse(stream, displayName);
        var externalFiles = ResolveTensors(proto, baseDirectory, displayName, options, out _);
        return new OnnxModel(proto, externalDataFiles: externalFiles)
        {
            HasUnloadedExternalData = !options.LoadExternalData && externalFiles.Count > 0,
        };
    }

    private static bool Mappable(long length, LoadOptions options) => length >= options.MemoryMapThreshold && !OperatingSystem.IsWindows();

    /// <summary>Refuses files whose first bytes say they are something else (an image, an archive, text).</summary>
    private static void CheckFormat(Stream stream, string? file)
    {
        if (!stream.CanSeek)
        {
            return;
        }

        Span<byte> head = stackalloc byte[8];
        var headLength = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        stream.Position = 0;
        if (headLength == 0)
        {
            throw Error(ErrorCodes.ModelEmpty, "The model is empty (0 bytes).", file);
        }

        if (KnownFormat(head[..headLength]) is { } format)
        {
            throw Error(ErrorCodes.ModelNotProtobuf, $"This is {format}, not an ONNX model.", file);
        }
    }

    /// <summary>Parses through a memory mapping, weights aliased; null when the wire data needs the plain parser.</summary>
    private static ModelProto? ParseMapped(string path)
    {
        try
        {
            var proto = WeightWire.ParseAliased(MappedFile.Open(path));
            return proto is null ? null : CheckIsModel(proto, path);
        }
        catch (InvalidProtocolBufferException)
        {
            return null; // the plain parser reports it with its own words
        }
    }

    private static ModelProto Parse(Stream stream, string? file)
    {
        ModelProto proto;
        try
        {
            proto = ModelProto.Parser.ParseFrom(stream);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw Error(ErrorCodes.ModelNotProtobuf,
                $"This is not a valid ONNX model: the protobuf data is truncated or corrupt ({e.Message.TrimEnd('.')}).", file, e);
        }

        return CheckIsModel(proto, file);
    }

    private static ModelProto CheckIsModel(ModelProto proto, string? file)
    {
        if (!proto.HasIrVersion || proto.Graph is null)
        {
            var missing = !proto.HasIrVersion && proto.Graph is null ? "neither an IR version nor a graph" : !proto.HasIrVersion ? "no IR version" : "no graph";
            throw Error(ErrorCodes.ModelNotOnnx, $"This file parses as protobuf but is not an ONNX model: it has {missing}.", file);
        }

        return proto;
    }

    /// <summary>Checks every tensor's data against its shape and resolves external data; returns the external files used.</summary>
    private static List<string> ResolveTensors(ModelProto proto, string? baseDirectory, string? file, LoadOptions options, out long externalBytes)
    {
        externalBytes = 0;
        var files = new List<string>();
        var fileLengths = new Dictionary<string, long>(StringComparer.Ordinal);
        var mappings = new Dictionary<string, MappedFile>(StringComparer.Ordinal);
        var diagnostics = new List<Diagnostic>();
        foreach (var tensor in ModelWalker.Tensors(proto))
        {
            if (TensorCodec.CheckDataSize(tensor, file) is { } mismatch)
            {
                diagnostics.Add(mismatch);
                continue;
            }

            if (!TensorCodec.IsExternal(tensor))
            {
                continue;
            }

            var info = ExternalDataInfo.Parse(tensor, file);
            if (baseDirectory is null)
            {
                throw Error(ErrorCodes.ExternalDataMissing,
                    $"Tensor '{tensor.Name}' keeps its data in '{info.Location}', but the model was read from a stream with no folder to find it in.", file);
            }

            var dataPath = SafePath.ResolveInside(baseDirectory, info.Location, out var reason)
                ?? throw Error(ErrorCodes.ExternalDataUnsafeLocation,
                    $"Tensor '{tensor.Name}' has external data location '{info.Location}', which {reason}; it is not read.", file);
            if (!fileLengths.TryGetValue(dataPath, out var fileLength))
            {
                if (!File.Exists(dataPath))
                {
                    throw Error(ErrorCodes.ExternalDataMissing,
                        $"Tensor '{tensor.Name}' keeps its data in '{info.Location}', and that file does not exist beside the model.", file);
                }

                fileLength = new FileInfo(dataPath).Length;
                fileLengths[dataPath] = fileLength;
                files.Add(info.Location);
                externalBytes += fileLength;
            }

            var length = info.Length ?? fileLength - info.Offset;
            var expected = ElementTypes.RawByteLength(TensorCodec.ElementTypeOf(tensor), TensorCodec.ElementCount(tensor));
            if (info.Offset > fileLength || length < 0 || info.Offset + length > fileLength)
            {
                throw Error(ErrorCodes.ExternalDataOutOfRange,
                    $"Tensor '{tensor.Name}' reads {length} bytes at offset {info.Offset} of '{info.Location}', but that file has only {fileLength} bytes.", file);
            }

            if (length != expected)
            {
                diagnostics.Add(Diagnostic.Error(ErrorCodes.TensorDataMismatch,
                    $"Tensor '{tensor.Name}' declares {TensorCodec.FormatBytes(expected)} of data but its external data holds {TensorCodec.FormatBytes(length)}.", file));
                continue;
            }

            if (options.LoadExternalData)
            {
                tensor.RawData = ReadRange(dataPath, info.Offset, length, file, options, mappings);
                tensor.ExternalData.Clear();
                tensor.ClearDataLocation();
            }
        }

        if (diagnostics.Count > 0)
        {
            throw new CompressionException(diagnostics);
        }

        return files;
    }

    private static ByteString ReadRange(string dataPath, long offset, long length, string? file, LoadOptions options, Dictionary<string, MappedFile> mappings)
    {
        if (length >= ProtobufLimit)
        {
            throw Error(ErrorCodes.ModelTooLarge, $"One tensor of {TensorCodec.FormatBytes(length)} in '{dataPath}' is larger than a tensor can be held in memory here.", file);
        }

        if (length > 0 && Mappable(new FileInfo(dataPath).Length, options))
        {
            if (!mappings.TryGetValue(dataPath, out var mapping))
            {
                mappings[dataPath] = mapping = MappedFile.Open(dataPath);
            }

            return UnsafeByteOperations.UnsafeWrap(mapping.Slice(offset, (int)length));
        }

        var buffer = GC.AllocateUninitializedArray<byte>((int)length);
        using (var stream = new FileStream(dataPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16))
        {
            stream.Position = offset;
            stream.ReadExactly(buffer);
        }

        return UnsafeByteOperations.UnsafeWrap(buffer);
    }

    private static string? KnownFormat(ReadOnlySpan<byte> head) => head switch
    {
        [0x89, (byte)'P', (byte)'N', (byte)'G', ..] => "a PNG image",
        [0xFF, 0xD8, 0xFF, ..] => "a JPEG image",
        [(byte)'P', (byte)'K', 3, 4, ..] => "a ZIP archive (a PyTorch checkpoint or a NuGet package?)",
        [0x1F, 0x8B, ..] => "a gzip file (decompress it first)",
        [(byte)'%', (byte)'P', (byte)'D', (byte)'F', ..] => "a PDF document",
        [(byte)'G', (byte)'I', (byte)'F', (byte)'8', ..] => "a GIF image",
        [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', ..] => "a NumPy array file",
        [(byte)'{', ..] or [(byte)'[', ..] => "a JSON or text file",
        [(byte)'<', ..] => "an XML or HTML file",
        _ => null,
    };

    private static CompressionException Error(string code, string message, string? file, Exception? inner = null) =>
        new(Diagnostic.Error(code, message, file), inner);
}
