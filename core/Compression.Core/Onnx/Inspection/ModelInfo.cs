namespace Compression.Core.Onnx.Inspection;

/// <summary>What <c>Get-ModelInfo</c> reports about one model.</summary>
public sealed class ModelInfo
{
    public required string Path { get; init; }

    public required string Name { get; init; }

    /// <summary>Bytes on disk: the model file plus its external data files.</summary>
    public required long SizeBytes { get; init; }

    public required long IrVersion { get; init; }

    public required IReadOnlyList<OpsetInfo> Opsets { get; init; }

    /// <summary>The producer's name and version, e.g. "pytorch 2.1.0".</summary>
    public required string Producer { get; init; }

    public required IReadOnlyList<ValueInfo> Inputs { get; init; }

    public required IReadOnlyList<ValueInfo> Outputs { get; init; }

    /// <summary>Nodes in every graph, subgraphs of If/Loop/Scan included.</summary>
    public required int NodeCount { get; init; }

    /// <summary>How many nodes of each op type (domain-qualified outside the default domain), most frequent first.</summary>
    public required IReadOnlyDictionary<string, int> OpCounts { get; init; }

    /// <summary>Elements of all stored weights: initializers and Constant-held tensors together.</summary>
    public required long ParameterCount { get; init; }

    /// <summary>Bytes of all stored weights.</summary>
    public required long ParameterBytes { get; init; }

    /// <summary>Weights grouped by element type, largest first.</summary>
    public required IReadOnlyList<ParameterGroup> ParametersByType { get; init; }

    /// <summary>
    /// Multiply-accumulates per sample of the linear layers (<see cref="MacCounter"/>), the symbolic batch taken as 1;
    /// names the layers whose shapes the graph does not tell.
    /// </summary>
    public required MacCount Macs { get; init; }

    public required IReadOnlyList<string> ExternalDataFiles { get; init; }

    public override string ToString() => Path;
}

/// <summary>An imported operator set.</summary>
public sealed record OpsetInfo(string Domain, long Version)
{
    public override string ToString() => $"{(Domain.Length == 0 ? "ai.onnx" : Domain)}:{Version}";
}

/// <summary>A graph input or output: name, type, and shape with symbolic dimensions by name.</summary>
public sealed record ValueInfo(string Name, string ElementType, IReadOnlyList<string> Shape)
{
    public override string ToString() => Shape.Count == 0 && ElementType.StartsWith("tensor", StringComparison.Ordinal)
        ? $"{Name}: {ElementType}"
        : $"{Name}: {ElementType}[{string.Join(",", Shape)}]";
}

/// <summary>The weights of one element type.</summary>
public sealed record ParameterGroup(string ElementType, long Count, long Bytes)
{
    public override string ToString() => $"{ElementType}: {Count:N0} ({Bytes:N0} B)";
}
