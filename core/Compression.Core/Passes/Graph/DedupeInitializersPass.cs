using Compression.Core.Onnx;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;

namespace Compression.Core.Passes.Graph;

/// <summary>
/// Merges initializers with the same element type, dims and bytes into the first of them, rewiring every reader
/// (subgraphs included). Graph inputs and graph outputs are never merged: their names are the interface.
/// Each graph dedupes its own initializers; equal tensors in different graphs stay apart.
/// </summary>
public sealed class DedupeInitializersPass : Pass<NoOptions>
{
    public override string Name => "dedupe_initializers";

    public override string Description => "Merges initializers that hold identical tensors and rewires their readers.";

    protected override PassResult Run(OnnxModel model, NoOptions options, PassContext context)
    {
        var merged = 0;
        long bytesSaved = 0;
        foreach (var graph in GraphScopes.InnermostFirst(model))
        {
            var kept = new Dictionary<(int Type, string Dims, int Hash), List<TensorProto>>();
            foreach (var tensor in graph.Proto.Initializer.ToList())
            {
                context.Cancellation.ThrowIfCancellationRequested();
                if (GraphScopes.IsGraphInput(graph, tensor.Name) || graph.IsGraphOutput(tensor.Name) || TensorCodec.IsExternal(tensor))
                {
                    continue;
                }

                var key = (tensor.DataType, string.Join(",", tensor.Dims), ContentHash(tensor));
                if (!kept.TryGetValue(key, out var candidates))
                {
                    kept[key] = [tensor];
                    continue;
                }

                var twin = candidates.FirstOrDefault(c => SameContent(c, tensor));
                if (twin is null)
                {
                    candidates.Add(tensor);
                    continue;
                }

                Merge(graph, tensor.Name, twin.Name);
                merged++;
                bytesSaved += Math.Max(0, TensorCodec.StoredByteLength(tensor));
                context.Log.Verbose($"dedupe_initializers: '{tensor.Name}' is identical to '{twin.Name}'; merged.");
            }
        }

        context.Log.Verbose($"dedupe_initializers: merged {merged} initializers, {TensorCodec.FormatBytes(bytesSaved)} saved.");
        return new PassResult(model, new DedupeInitializersResult(merged, bytesSaved));
    }

    private static void Merge(OnnxGraph graph, string duplicate, string survivor)
    {
        graph.RemoveInitializer(duplicate);
        graph.ReplaceAllUses(duplicate, survivor);
        GraphScopes.RemoveValueInfo(graph, duplicate);
    }

    private static int ContentHash(TensorProto tensor)
    {
        var hash = new HashCode();
        if (TensorCodec.ElementTypeOf(tensor) == ElementType.String)
        {
            foreach (var value in tensor.StringData)
            {
                hash.AddBytes(value.Span);
            }
        }
        else
        {
            hash.AddBytes(RawBytes(tensor));
        }

        return hash.ToHashCode();
    }

    private static bool SameContent(TensorProto a, TensorProto b)
    {
        if (TensorCodec.ElementTypeOf(a) == ElementType.String)
        {
            return a.StringData.SequenceEqual(b.StringData);
        }

        return RawBytes(a).SequenceEqual(RawBytes(b));
    }

    /// <summary>The raw bytes without a copy when the tensor already holds raw_data (a mapped model's weights stay in the mapping).</summary>
    private static ReadOnlySpan<byte> RawBytes(TensorProto tensor) =>
        tensor.HasRawData ? tensor.RawData.Span : TensorCodec.GetRawBytes(tensor);
}

/// <summary>Initializers merged into an identical one, and the bytes that saved.</summary>
public sealed record DedupeInitializersResult(int Merged, long BytesSaved) : StepResult;
