using System.Buffers;
using Compression.Core.Onnx.Protobuf;
using Google.Protobuf;

namespace Compression.Core.Onnx;

/// <summary>
/// Parses a model whose bytes are memory-mapped without copying its weights: the protobuf wire data is first
/// re-emitted with every large <c>raw_data</c> of the main graph's tensors (initializers and Constant values)
/// emptied, that small skeleton is parsed, and the emptied fields are then pointed at slices of the mapping.
/// The result equals a plain parse field by field. Anything unexpected in the wire data (groups, a graph or
/// tensor given twice) returns null and the caller parses the plain way.
/// </summary>
internal static class ModelSkeleton
{
    /// <summary>raw_data fields at least this long are aliased; smaller ones are cheaper to copy.</summary>
    private const int AliasThreshold = 4096;

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

    /// <summary>Where an aliased payload goes: an initializer, or the tensor attribute of a node.</summary>
    private readonly record struct Target(int Initializer, int Node, int Attribute, long Offset, int Length);

    public static ModelProto? TryParse(MappedFile file)
    {
        if (file.Length >= int.MaxValue)
        {
            return null;
        }

        var targets = new List<Target>();
        var output = new ArrayBufferWriter<byte>(64 * 1024);
        var context = new Path();
        if (!Emit(file.Span(0, (int)file.Length), 0, Kind.Model, output, targets, ref context))
        {
            return null;
        }

        var proto = ModelProto.Parser.ParseFrom(output.WrittenSpan);
        foreach (var target in targets)
        {
            var tensor = target.Initializer >= 0
                ? proto.Graph.Initializer[target.Initializer]
                : proto.Graph.Node[target.Node].Attribute[target.Attribute].T;
            tensor.RawData = UnsafeByteOperations.UnsafeWrap(file.Slice(target.Offset, target.Length));
        }

        return proto;
    }

    /// <summary>Counters of the repeated fields walked so far, so a payload can be matched to its parsed tensor.</summary>
    private struct Path
    {
        public int Initializer;
        public int Node;
        public int Attribute;
        public bool InInitializer;
        public bool GraphSeen;
    }

    private static bool Emit(ReadOnlySpan<byte> message, long baseOffset, Kind kind, IBufferWriter<byte> output, List<Target> targets, ref Path path)
    {
        var position = 0;
        var tensorSeen = false;
        while (position < message.Length)
        {
            var fieldStart = position;
            if (!TryReadVarint(message, ref position, out var tag))
            {
                return false;
            }

            var field = (int)(tag >> 3);
            switch ((int)(tag & 7))
            {
                case 0:
                    if (!TryReadVarint(message, ref position, out _))
                    {
                        return false;
                    }

                    break;
                case 1:
                    position += 8;
                    break;
                case 5:
                    position += 4;
                    break;
                case 2:
                    if (!TryReadVarint(message, ref position, out var length) || length > (ulong)(message.Length - position))
                    {
                        return false;
                    }

                    var payload = message.Slice(position, (int)length);
                    var payloadOffset = baseOffset + position;
                    position += (int)length;
                    var child = ChildKind(kind, field);
                    if (kind == Kind.Tensor && field == TensorRawData && payload.Length >= AliasThreshold)
                    {
                        WriteVarint(output, tag);
                        WriteVarint(output, 0);
                        targets.Add(path.InInitializer
                            ? new Target(path.Initializer, -1, -1, payloadOffset, payload.Length)
                            : new Target(-1, path.Node, path.Attribute, payloadOffset, payload.Length));
                        continue;
                    }

                    if (child is not { } childKind)
                    {
                        break;
                    }

                    // A singular message given twice is merged by protobuf; too rare to mirror here.
                    if ((childKind == Kind.Graph && path.GraphSeen) || (childKind == Kind.Tensor && kind == Kind.Attribute && tensorSeen))
                    {
                        return false;
                    }

                    path.GraphSeen |= childKind == Kind.Graph;
                    tensorSeen |= childKind == Kind.Tensor && kind == Kind.Attribute;
                    path.InInitializer = kind == Kind.Graph && field == GraphInitializer;
                    var inner = new ArrayBufferWriter<byte>(Math.Max(16, Math.Min(payload.Length, 64 * 1024)));
                    if (!Emit(payload, payloadOffset, childKind, inner, targets, ref path))
                    {
                        return false;
                    }

                    switch (kind, field)
                    {
                        case (Kind.Graph, GraphInitializer):
                            path.Initializer++;
                            break;
                        case (Kind.Graph, GraphNode):
                            path.Node++;
                            path.Attribute = 0;
                            break;
                        case (Kind.Node, NodeAttribute):
                            path.Attribute++;
                            break;
                    }

                    WriteVarint(output, tag);
                    WriteVarint(output, (ulong)inner.WrittenCount);
                    output.Write(inner.WrittenSpan);
                    continue;
                default:
                    return false; // groups (wire types 3 and 4) are not part of ONNX
            }

            if (position > message.Length)
            {
                return false;
            }

            output.Write(message[fieldStart..position]);
        }

        return true;
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

    private static void WriteVarint(IBufferWriter<byte> output, ulong value)
    {
        var span = output.GetSpan(10);
        var i = 0;
        while (value >= 0x80)
        {
            span[i++] = (byte)(value | 0x80);
            value >>= 7;
        }

        span[i++] = (byte)value;
        output.Advance(i);
    }
}
