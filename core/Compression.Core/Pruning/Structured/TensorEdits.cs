using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Passes.Graph;

namespace Compression.Core.Pruning.Structured;

/// <summary>Gives the readers of a constant a new value: in place when only they read it, else as a copy under a fresh name.</summary>
internal static class TensorEdits
{
    public static void Replace(OnnxGraph graph, string name, IReadOnlyList<(NodeProto Node, int Input)> readers, TensorProto value, HashSet<string> names)
    {
        var exclusive = !graph.IsGraphOutput(name) && !GraphScopes.IsGraphInput(graph, name)
            && graph.Consumers(name).All(c => readers.Any(r => ReferenceEquals(r.Node, c)));
        if (exclusive && graph.Initializer(name) is not null)
        {
            value.Name = name;
            graph.SetInitializer(value);
            return;
        }

        if (exclusive && graph.Producer(name) is { } constant && ConstantSources.IsConstantNode(constant))
        {
            value.Name = name;
            constant.Attribute.Clear();
            constant.Attribute.Add(new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = value });
            return;
        }

        value.Name = GraphScopes.UniqueName(names, $"{name}_pruned");
        graph.SetInitializer(value);
        foreach (var (node, input) in readers)
        {
            node.Input[input] = value.Name;
        }
    }
}
