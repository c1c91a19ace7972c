using Compression.Core.Onnx.Protobuf;

namespace Compression.Core.Onnx.Graphs;

/// <summary>Small node-building helpers of the quantizers and the opset upgrade.</summary>
internal static class GraphEdits
{
    public static NodeProto Node(string opType, string name, IEnumerable<string> inputs, IEnumerable<string> outputs, string domain = "")
    {
        var node = new NodeProto { OpType = opType, Name = name, Domain = domain };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        return node;
    }

    public static AttributeProto Int(string name, long value) =>
        new() { Name = name, I = value, Type = AttributeProto.Types.AttributeType.Int };

    public static long IntAttribute(NodeProto node, string name, long fallback)
    {
        foreach (var attribute in node.Attribute)
        {
            if (attribute.Name == name)
            {
                return attribute.I;
            }
        }

        return fallback;
    }

    public static float? FloatAttribute(NodeProto node, string name)
    {
        foreach (var attribute in node.Attribute)
        {
            if (attribute.Name == name)
            {
                return attribute.F;
            }
        }

        return null;
    }
}
