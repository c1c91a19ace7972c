using Compression.Core.Diagnostics;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;

namespace Compression.Core.Onnx.Graphs;

/// <summary>
/// Structural checks a pass runs after it rewrites a model: every input produced or declared (in this graph or
/// an enclosing one), no cycles, each value defined once, node names unique, declared types consistent with the
/// stored tensors, and every node's domain imported.
/// </summary>
public static class GraphChecker
{
    public static IReadOnlyList<Diagnostic> Check(OnnxModel model)
    {
        var diagnostics = new List<Diagnostic>();
        var file = model.Path;
        var domains = model.Proto.OpsetImport.Select(o => OnnxModel.NormalizeDomain(o.Domain)).ToHashSet(StringComparer.Ordinal);
        var functions = model.Proto.Functions.Select(f => (OnnxModel.NormalizeDomain(f.Domain), f.Name)).ToHashSet();
        CheckGraph(new OnnxGraph(model.Proto.Graph, model), new HashSet<string>(StringComparer.Ordinal), domains, functions, diagnostics, file);
        return diagnostics;
    }

    /// <summary>Throws <see cref="CompressionException"/> with every error found; warnings are returned.</summary>
    public static IReadOnlyList<Diagnostic> Validate(OnnxModel model)
    {
        var diagnostics = Check(model);
        var errors = diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        if (errors.Count > 0)
        {
            throw new CompressionException(errors);
        }

        return diagnostics;
    }

    private static void CheckGraph(OnnxGraph graph, HashSet<string> outerScope, HashSet<string> domains,
        HashSet<(string, string)> functions, List<Diagnostic> diagnostics, string? file)
    {
        var proto = graph.Proto;
        var where = proto.Name.Length > 0 ? $"graph '{proto.Name}'" : "the graph";
        var defined = new HashSet<string>(StringComparer.Ordinal);
        var types = new Dictionary<string, int>(StringComparer.Ordinal);

        foreach (var input in proto.Input)
        {
            if (!defined.Add(input.Name))
            {
                diagnostics.Add(Error($"In {where}, the input '{input.Name}' is declared twice.", file));
            }

            if (input.Type?.TensorType is { } tensorType && tensorType.HasElemType)
            {
                types[input.Name] = tensorType.ElemType;
            }
        }

        var inputNames = new HashSet<string>(defined, StringComparer.Ordinal);
        var initializerNames = new HashSet<string>(StringComparer.Ordinal);
        foreach (var tensor in proto.Initializer)
        {
            if (!initializerNames.Add(tensor.Name))
            {
                diagnostics.Add(Error($"In {where}, the initializer '{tensor.Name}' is defined twice.", file));
            }
            else if (!inputNames.Contains(tensor.Name))
            {
                defined.Add(tensor.Name);
            }

            if (types.TryGetValue(tensor.Name, out var declared) && declared != tensor.DataType)
            {
                diagnostics.Add(Error($"In {where}, the input '{tensor.Name}' is declared as {ElementTypes.OnnxName(declared)} " +
                    $"but its initializer holds {ElementTypes.OnnxName(tensor.DataType)}.", file));
            }

            types.TryAdd(tensor.Name, tensor.DataType);
        }

        foreach (var sparse in proto.SparseInitializer)
        {
            if (sparse.Values is not null && !defined.Add(sparse.Values.Name) && !inputNames.Contains(sparse.Values.Name))
            {
                diagnostics.Add(Error($"In {where}, the sparse initializer '{sparse.Values.Name}' is defined twice.", file));
            }
        }

        foreach (var info in proto.ValueInfo)
        {
            if (info.Type?.TensorType is { HasElemType: true } tensorType && types.TryGetValue(info.Name, out var known) && known != tensorType.ElemType)
            {
                diagnostics.Add(Error($"In {where}, '{info.Name}' is annotated as {ElementTypes.OnnxName(tensorType.ElemType)} " +
                    $"but holds {ElementTypes.OnnxName(known)}.", file));
            }
        }

        var producedLater = OnnxGraph.DefinedNames(proto);
        var nodeNames = new HashSet<string>(StringComparer.Ordinal);
        foreach (var node in proto.Node)
        {
            var label = OnnxGraph.Describe(node);
            if (node.Name.Length > 0 && !nodeNames.Add(node.Name))
            {
                diagnostics.Add(Diagnostic.Warning(ErrorCodes.GraphInvalid, $"In {where}, more than one node is named '{node.Name}'.", file));
            }

            var domain = OnnxModel.NormalizeDomain(node.Domain);
            if (!domains.Contains(domain) && !functions.Contains((domain, node.OpType)))
            {
                diagnostics.Add(Error($"In {where}, node '{label}' uses domain '{node.Domain}', which the model does not import.", file));
            }

            foreach (var input in node.Input)
            {
                if (input.Length == 0 || defined.Contains(input) || outerScope.Contains(input))
                {
                    continue;
                }

                diagnostics.Add(Error(producedLater.Contains(input)
                    ? $"In {where}, node '{label}' reads '{input}' before it is produced (the nodes are out of order or form a cycle)."
                    : $"In {where}, node '{label}' reads '{input}', which no node produces and the graph does not declare.", file));
            }

            if (node.Attribute.Any(a => a.G is not null || a.Graphs.Count > 0))
            {
                var scope = new HashSet<string>(outerScope, StringComparer.Ordinal);
                scope.UnionWith(defined);
                foreach (var subgraph in graph.Subgraphs(node))
                {
                    CheckGraph(subgraph, scope, domains, functions, diagnostics, file);
                }
            }

            foreach (var output in node.Output)
            {
                if (output.Length > 0 && !defined.Add(output))
                {
                    diagnostics.Add(Error($"In {where}, '{output}' is written by node '{label}' but is already defined; every value has one producer.", file));
                }
            }
        }

        foreach (var output in proto.Output)
        {
            if (!defined.Contains(output.Name) && !outerScope.Contains(output.Name))
            {
                diagnostics.Add(Error($"In {where}, the output '{output.Name}' is produced by no node and declared nowhere.", file));
            }
        }
    }

    private static Diagnostic Error(string message, string? file) => Diagnostic.Error(ErrorCodes.GraphInvalid, message, file);
}
