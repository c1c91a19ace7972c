using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Inspection;
using Compression.Core.Onnx.Protobuf;

namespace Compression.Core.Onnx.Graphs;

/// <summary>
/// Where a constant value comes from in a graph: an initializer that is not a graph input (an initializer listed
/// as an input, as IR &lt; 4 models do, is only a default the caller may override), or a Constant node.
/// </summary>
internal static class ConstantSources
{
    /// <summary>The value of <paramref name="name"/> when it is a dense constant of this graph; null otherwise.</summary>
    public static TensorProto? Find(OnnxGraph graph, string name)
    {
        if (name.Length == 0)
        {
            return null;
        }

        if (graph.Initializer(name) is { } initializer)
        {
            return GraphScopes.IsGraphInput(graph, name) ? null : initializer;
        }

        return graph.Producer(name) is { } producer && IsConstantNode(producer) ? DenseValue(producer) : null;
    }

    public static bool IsConstantNode(NodeProto node) => node.OpType == "Constant" && GraphScopes.IsStandard(node);

    /// <summary>A Constant node's dense value; null for sparse_value, which passes leave alone.</summary>
    public static TensorProto? DenseValue(NodeProto constant)
    {
        foreach (var attribute in constant.Attribute)
        {
            if (attribute.Name == "sparse_value")
            {
                return null;
            }
        }

        return ModelInspector.ConstantValues(constant).FirstOrDefault();
    }

    /// <summary>
    /// Removes the initializers and Constant nodes among <paramref name="names"/> that nothing reads any more
    /// (graph inputs and outputs stay); returns how many went.
    /// </summary>
    public static int RemoveUnread(OnnxGraph graph, IEnumerable<string> names)
    {
        var removed = 0;
        foreach (var name in names.Distinct(StringComparer.Ordinal).ToList())
        {
            if (graph.Consumers(name).Count > 0 || graph.IsGraphOutput(name) || GraphScopes.IsGraphInput(graph, name))
            {
                continue;
            }

            if (graph.RemoveInitializer(name))
            {
                removed++;
            }
            else if (graph.Producer(name) is { } producer && IsConstantNode(producer))
            {
                graph.RemoveNode(producer);
                GraphScopes.RemoveValueInfo(graph, name);
                removed++;
            }
        }

        return removed;
    }
}
