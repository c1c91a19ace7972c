using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;

namespace Compression.Core.Onnx;

/// <summary>
/// A loaded ONNX model: the protobuf message plus where it came from. Tensors that were stored as external
/// data are held in <c>raw_data</c> after loading (unless the loader was asked to leave them on disk).
/// </summary>
public sealed class OnnxModel
{
    public OnnxModel(ModelProto proto, string? path = null, IReadOnlyList<string>? externalDataFiles = null, long sizeOnDisk = -1)
    {
        Proto = proto;
        Path = path is null ? null : System.IO.Path.GetFullPath(path);
        ExternalDataFiles = externalDataFiles ?? [];
        SizeOnDisk = sizeOnDisk;
    }

    public ModelProto Proto { get; }

    /// <summary>The full path the model was loaded from; null for a model built in memory or read from a stream.</summary>
    public string? Path { get; }

    /// <summary>The folder external data locations are relative to.</summary>
    public string? Directory => Path is null ? null : System.IO.Path.GetDirectoryName(Path);

    /// <summary>The external data files the model referred to when loaded, as written in the model (relative).</summary>
    public IReadOnlyList<string> ExternalDataFiles { get; }

    /// <summary>Bytes on disk when loaded: the model file plus its external data files; -1 when not loaded from a file.</summary>
    public long SizeOnDisk { get; }

    /// <summary>Whether some tensors still refer to external data that was not read (info-only loading).</summary>
    public bool HasUnloadedExternalData { get; init; }

    /// <summary>A view of the main graph for passes: topological order, producers, consumers, edits.</summary>
    public OnnxGraph MainGraph => new(Proto.Graph, this);

    /// <summary>The opset version imported for a domain ("" and "ai.onnx" are the same domain); null when not imported.</summary>
    public long? OpsetVersion(string domain)
    {
        foreach (var opset in Proto.OpsetImport)
        {
            if (DomainsEqual(opset.Domain, domain))
            {
                return opset.Version;
            }
        }

        return null;
    }

    internal static bool DomainsEqual(string a, string b) =>
        NormalizeDomain(a) == NormalizeDomain(b);

    internal static string NormalizeDomain(string domain) => domain == "ai.onnx" ? "" : domain;
}
