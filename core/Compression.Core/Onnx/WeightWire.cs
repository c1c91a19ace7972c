using System.Buffers;
using Compression.Core.Onnx.Protobuf;
using Google.Protobuf;

namespace Compression.Core.Onnx;

/// <summary>
/// Protobuf wire surgery on the <c>raw_data</c> of the main graph's weight tensors (initializers and the tensor
/// attributes of nodes, where Constant values live), so that weights never pass through the protobuf library:
/// <list type="bullet">
/// <item>reading: a memory-mapped model is re-emitted with large raw_data emptied, that small skeleton is parsed,
/// and the emptied fields are pointed at slices of the mapping (no copy of the weights);</item>
/// <item>writing: the model is serialized with large raw_data emptied, and the skeleton is streamed out with each
/// payload spliced back in, written from its source (kernel-side for unchanged slices of a mapped input).</item>
/// </list>
/// Either way the bytes are exactly those of a plain parse or serialization. Wire data this does not expect
/// (a graph or tensor attribute given twice, broken wire data) makes reading fall back to the plain parser; groups,
/// which ONNX does not use but protobuf keeps as unknown fields, are passed through.
/// </summary>
internal static class WeightWire
{
    /// <summary>raw_data fields at least this long are spliced; smaller ones are cheaper to copy.</summary>
    private const int SpliceThreshold = 4096;

    // Field numbers on the path from ModelProto to the tensors that hold weights.
    private const int ModelGraph = 7;
    private const int GraphNode = 1;
    private const int GraphInitializer = 5;
    private const int NodeAttribute = 5;
    private const int AttributeTensor = 5;
    private const int TensorRawData = 9;

    private enum Kind
    {
        Model,
        Graph,
        Node,
        Attribute,
        Tensor,
    }

    /// <summary>A weight tensor of the main graph: an initializer, or the tensor attribute of a node.</summary>
    private readonly record struct TensorRef(int Initializer, int Node, int Attribute);

    /// <summary>A piece of output: a range of the input wire bytes, literal bytes, or a tensor payload.</summary>
    private readonly record struct Chunk(long Offset, int Length, byte[]? Literal, ByteString? Payload);

    /// <summary>Decides what a raw_data field becomes; null keeps it as it is.</summary>
    private delegate ByteString? RawDataRule(TensorRef tensor, long payloadOffset, int payloadLength);

    /// <summary>Parses a mapped model with its large weights aliased into the mapping; null when the plain parser must do it.</summary>
    public static ModelProto? ParseAliased(MappedFile file)
    {
        if (file.Length >= int.MaxValue)
        {
            return null;
        }

        var aliased = new List<(TensorRef Tensor, long Offset, int Length)>();
        var input = file.Span(0, (int)file.Length);
        var chunks = new List<Chunk>();
        var state = new WalkState();
        var length = Build(input, 0, Kind.Model, chunks, ref state, (tensor, offset, size) =>
        {
            if (size < SpliceThreshold)
            {
                return null;
            }

            aliased.Add((tensor, offset, size));
            return ByteString.Empty;
        });
        if (length is null)
        {
            return null;
        }

        var skeleton = new byte[length.Value];
        var position = 0;
        foreach (var chunk in chunks)
        {
            var bytes = chunk.Literal ?? (chunk.Payload is { } payload ? payload.Span : input.Slice((int)chunk.Offset, chunk.Length));
            bytes.CopyTo(skeleton.AsSpan(position));
            position += bytes.Length;
        }

        var proto = ModelProto.Parser.ParseFrom(skeleton);
        foreach (var (tensor, offset, size) in aliased)
        {
            Resolve(proto, tensor).RawData = UnsafeByteOperations.UnsafeWrap(file.Slice(offset, size));
        }

        return proto;
    }

    /// <summary>Serializes the model to the stream, large weights written straight from where they are held.</summary>
    public static void Write(ModelProto proto, FileStream output)
    {
        var payloads = new Dictionary<TensorRef, ByteString>();
        foreach (var (tensor, where) in WeightTensors(proto))
        {
            if (tensor.HasRawData && tensor.RawData.Length >= SpliceThreshold)
            {
                payloads[where] = tensor.RawData;
            }
        }

        byte[] skeleton;
        try
        {
            foreach (var (tensor, where) in WeightTensors(proto))
            {
                if (payloads.ContainsKey(where))
                {
                    tensor.RawData = ByteString.Empty;
                }
            }

            skeleton = proto.ToByteArray();
        }
        finally
        {
            foreach (var (tensor, where) in WeightTensors(proto))
            {
                if (payloads.TryGetValue(where, out var payload))
                {
                    tensor.RawData = payload;
                }
            }
        }

        var chunks = new List<Chunk>();
        var state = new WalkState();
        var length = Build(skeleton, 0, Kind.Model, chunks, ref state,
            (tensor, _, size) => size == 0 ? payloads.GetValueOrDefault(tensor) : null);
        if (length is null)
        {
            throw new InvalidOperationException("The serialized model could not be walked; this is a bug.");
        }

        foreach (var chunk in chunks)
        {
            if (chunk.Payload is { } payload)
            {
                FileWriter.Write(output, payload);
            }
            else
            {
                output.Write(chunk.Literal ?? skeleton.AsSpan((int)chunk.Offset, chunk.Length));
            }
        }
    }

    private static IEnumerable<(TensorProto Tensor, TensorRef Where)> WeightTensors(ModelProto proto)
    {
        if (proto.Graph is null)
        {
            yield break;
        }

        for (var i = 0; i < proto.Graph.Initializer.Count; i++)
        {
            yield return (proto.Graph.Initializer[i], new TensorRef(i, -1, -1));
        }

        for (var n = 0; n < proto.Graph.Node.Count; n++)
        {
            var attributes = proto.Graph.Node[n].Attribute;
            for (var a = 0; a < attributes.Count; a++)
            {
                if (attributes[a].T is { } tensor)
                {
                    yield return (tensor, new TensorRef(-1, n, a));
                }
            }
        }
    }

    private static TensorProto Resolve(ModelProto proto, TensorRef where) => where.Initializer >= 0
        ? proto.Graph.Initializer[where.Initializer]
        : proto.Graph.Node[where.Node].Attribute[where.Attribute].T;

    /// <summary>Counters of the repeated fields walked so far: the wire order is the parsed order.</summary>
    private struct WalkState
    {
        public int Initializer;
        public int Node;
        public int Attribute;
        public bool InInitializer;
        public bool GraphSeen;
    }

    /// <summary>
    /// Appends the chunks that re-emit <paramref name="message"/> with raw_data fields replaced by the rule, and
    /// returns the re-emitted length; null when the wire data is not what this walker handles.
    /// </summary>
    private static long? Build(ReadOnlySpan<byte> message, long baseOffset, Kind kind, List<Chunk> chunks, ref WalkState state, RawDataRule rule)
    {
        long total = 0;
        var position = 0;
        var tensorSeen = false;
        var verbatimStart = 0;

        void FlushVerbatim(List<Chunk> list, int end, ref long sum)
        {
            if (end > verbatimStart)
            {
                list.Add(new Chunk(baseOffset + verbatimStart, end - verbatimStart, null, null));
                sum += end - verbatimStart;
            }
        }

        while (position < message.Length)
        {
            var fieldStart = position;
            if (!TryReadVarint(message, ref position, out var tag))
            {
                return null;
            }

            var field = (int)(tag >> 3);
            switch ((int)(tag & 7))
            {
                case 0:
                    if (!TryReadVarint(message, ref position, out _))
                    {
                        return null;
                    }

                    continue;
                case 1:
                    position += 8;
                    break;
                case 5:
                    position += 4;
                    break;
                case 2:
                    if (!TryReadVarint(message, ref position, out var length) || length > (ulong)(message.Length - position))
                    {
                        return null;
                    }

                    var payloadStart = position;
                    position += (int)length;
                    if (kind == Kind.Tensor && field == TensorRawData)
                    {
                        var where = state.InInitializer ? new TensorRef(state.Initializer, -1, -1) : new TensorRef(-1, state.Node, state.Attribute);
                        if (rule(where, baseOffset + payloadStart, (int)length) is { } replacement)
                        {
                            FlushVerbatim(chunks, fieldStart, ref total);
                            var header = Header(tag, (ulong)replacement.Length);
                            chunks.Add(new Chunk(0, header.Length, header, null));
                            chunks.Add(new Chunk(0, replacement.Length, null, replacement));
                            total += header.Length + replacement.Length;
                            verbatimStart = position;
                        }

                        continue;
                    }

                    if (ChildKind(kind, field) is not { } child)
                    {
                        continue;
                    }

                    // A singular message given twice is merged by protobuf; too rare to mirror here.
                    if ((child == Kind.Graph && state.GraphSeen) || (child == Kind.Tensor && kind == Kind.Attribute && tensorSeen))
                    {
                        return null;
                    }

                    state.GraphSeen |= child == Kind.Graph;
                    tensorSeen |= child == Kind.Tensor && kind == Kind.Attribute;
                    state.InInitializer = kind == Kind.Graph && field == GraphInitializer;

                    FlushVerbatim(chunks, fieldStart, ref total);
                    var headerIndex = chunks.Count;
                    chunks.Add(default);
                    var inner = Build(message.Slice(payloadStart, (int)length), baseOffset + payloadStart, child, chunks, ref state, rule);
                    if (inner is null)
                    {
                        return null;
                    }

                    var childHeader = Header(tag, (ulong)inner.Value);
                    chunks[headerIndex] = new Chunk(0, childHeader.Length, childHeader, null);
                    total += childHeader.Length + inner.Value;
                    verbatimStart = position;

                    switch (kind, field)
                    {
                        case (Kind.Graph, GraphInitializer):
                            state.Initializer++;
                            break;
                        case (Kind.Graph, GraphNode):
                            state.Node++;
                            state.Attribute = 0;
                            break;
                        case (Kind.Node, NodeAttribute):
                            state.Attribute++;
                            break;
                    }

                    continue;
                case 3:
                    // ONNX has no groups, but protobuf keeps an unknown one of the input and writes it back out.
                    if (!TrySkipGroup(message, ref position, tag >> 3))
                    {
                        return null;
                    }

                    continue;
                default:
                    return null; // an end-group without its start, or wire types 6 and 7, which do not exist
            }

            if (position > message.Length)
            {
                return null;
            }
        }

        FlushVerbatim(chunks, message.Length, ref total);
        return total;
    }

    private static Kind? ChildKind(Kind parent, int field) => (parent, field) switch
    {
        (Kind.Model, ModelGraph) => Kind.Graph,
        (Kind.Graph, GraphInitializer) => Kind.Tensor,
        (Kind.Graph, GraphNode) => Kind.Node,
        (Kind.Node, NodeAttribute) => Kind.Attribute,
        (Kind.Attribute, AttributeTensor) => Kind.Tensor,
        _ => null,
    };

    /// <summary>Moves past a group whose start tag (of <paramref name="field"/>) was just read, nested groups included.</summary>
    private static bool TrySkipGroup(ReadOnlySpan<byte> data, ref int position, ulong field)
    {
        var open = new Stack<ulong>([field]);
        while (open.Count > 0)
        {
            if (!TryReadVarint(data, ref position, out var tag))
            {
                return false;
            }

            switch ((int)(tag & 7))
            {
                case 0:
                    if (!TryReadVarint(data, ref position, out _))
                    {
                        return false;
                    }

                    break;
                case 1:
                    position += 8;
                    break;
                case 2:
                    if (!TryReadVarint(data, ref position, out var length) || length > (ulong)(data.Length - position))
                    {
                        return false;
                    }

                    position += (int)length;
                    break;
                case 3:
                    open.Push(tag >> 3);
                    break;
                case 4 when open.Pop() == tag >> 3:
                    break;
                case 5:
                    position += 4;
                    break;
                default:
                    return false;
            }

            if (position > data.Length)
            {
                return false;
            }
        }

        return true;
    }

    private static bool TryReadVarint(ReadOnlySpan<byte> data, ref int position, out ulong value)
    {
        value = 0;
        for (var shift = 0; shift < 64 && position < data.Length; shift += 7)
        {
            var b = data[position++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return true;
            }
        }

        return false;
    }

    private static byte[] Header(ulong tag, ulong length)
    {
        var buffer = new ArrayBufferWriter<byte>(20);
        foreach (var value in new[] { tag, length })
        {
            var span = buffer.GetSpan(10);
            var i = 0;
            var v = value;
            while (v >= 0x80)
            {
                span[i++] = (byte)(v | 0x80);
                v >>= 7;
            }

            span[i++] = (byte)v;
            buffer.Advance(i);
        }

        return buffer.WrittenSpan.ToArray();
    }
}
