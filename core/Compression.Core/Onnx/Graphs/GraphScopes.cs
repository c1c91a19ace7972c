using Compression.Core.Onnx;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;

namespace Compression.Core.Onnx.Graphs;

/// <summary>Walks the graphs a pass rewrites and holds the small edits several passes share.</summary>
internal static class GraphScopes
{
    /// <summary>
    /// The main graph and every subgraph, innermost first: a pass that edits a subgraph changes the values its
    /// holder reads from outside, so the holder's view must be indexed after its subgraphs are done.
    /// </summary>
    public static List<OnnxGraph> InnermostFirst(OnnxModel model)
    {
        var graphs = new List<OnnxGraph>();
        Collect(model.MainGraph, graphs);
        return graphs;
    }

    /// <summary>Whether a node is in the standard ONNX domain, where op types mean what the spec says.</summary>
    public static bool IsStandard(NodeProto node) => OnnxModel.NormalizeDomain(node.Domain).Length == 0;

    public static bool IsGraphInput(OnnxGraph graph, string name)
    {
        foreach (var input in graph.Proto.Input)
        {
            if (input.Name == name)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Drops value_info annotations of a name that no longer exists.</summary>
    public static void RemoveValueInfo(OnnxGraph graph, string name)
    {
        for (var i = graph.Proto.ValueInfo.Count - 1; i >= 0; i--)
        {
            if (graph.Proto.ValueInfo[i].Name == name)
            {
                graph.Proto.ValueInfo.RemoveAt(i);
            }
        }
    }

    /// <summary>A name not in <paramref name="used"/> (which it joins), built from <paramref name="stem"/>.</summary>
    public static string UniqueName(HashSet<string> used, string stem)
    {
        var name = stem;
        for (var i = 1; !used.Add(name); i++)
        {
            name = $"{stem}_{i}";
        }

        return name;
    }

    /// <summary>Every value name defined in any graph of the model, for picking fresh names.</summary>
    public static HashSet<string> AllValueNames(OnnxModel model)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var graph in ModelWalker.GraphAndSubgraphs(model.Proto.Graph))
        {
            names.UnionWith(OnnxGraph.DefinedNames(graph));
        }

        return names;
    }

    private static void Collect(OnnxGraph graph, List<OnnxGraph> graphs)
    {
        foreach (var node in graph.Proto.Node)
        {
            foreach (var subgraph in graph.Subgraphs(node))
            {
                Collect(subgraph, graphs);
            }
        }

        graphs.Add(graph);
    }
}
