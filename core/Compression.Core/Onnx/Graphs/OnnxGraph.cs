using Compression.Core.Diagnostics;
using Compression.Core.Onnx.Protobuf;

namespace Compression.Core.Onnx.Graphs;

/// <summary>
/// A view of one graph for passes: producers and consumers of each value, initializers by name, subgraphs,
/// and edits that keep the view in step. Values a subgraph reads from an outer scope count as inputs of the
/// node that holds the subgraph, so every walk, sort and dead-node sweep sees them.
/// </summary>
public sealed class OnnxGraph
{
    private Dictionary<string, NodeProto>? producers;
    private Dictionary<string, List<NodeProto>>? consumers;
    private Dictionary<string, TensorProto>? initializers;
    private Dictionary<NodeProto, IReadOnlyList<string>>? implicitInputs;

    internal OnnxGraph(GraphProto proto, OnnxModel? model, OnnxGraph? parent = null)
    {
        Proto = proto ?? throw new ArgumentNullException(nameof(proto));
        Model = model;
        Parent = parent;
    }

    public GraphProto Proto { get; }

    public OnnxModel? Model { get; }

    /// <summary>The graph whose node holds this one; null for the main graph.</summary>
    public OnnxGraph? Parent { get; }

    public IReadOnlyList<NodeProto> Nodes => Proto.Node;

    public long? OpsetVersion(string domain) => Model?.OpsetVersion(domain);

    /// <summary>The node that produces a value in this graph; null for inputs, initializers and outer-scope values.</summary>
    public NodeProto? Producer(string value)
    {
        EnsureIndex();
        return producers!.GetValueOrDefault(value);
    }

    /// <summary>The nodes that read a value, including nodes whose subgraphs read it from this scope.</summary>
    public IReadOnlyList<NodeProto> Consumers(string value)
    {
        EnsureIndex();
        return consumers!.TryGetValue(value, out var list) ? list : [];
    }

    /// <summary>An initializer of this graph by name.</summary>
    public TensorProto? Initializer(string name)
    {
        EnsureIndex();
        return initializers!.GetValueOrDefault(name);
    }

    public bool IsGraphOutput(string value)
    {
        foreach (var output in Proto.Output)
        {
            if (output.Name == value)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Values the node's subgraphs read from enclosing scopes (empty for nodes without subgraphs).</summary>
    public IReadOnlyList<string> ImplicitInputs(NodeProto node)
    {
        EnsureIndex();
        return implicitInputs!.TryGetValue(node, out var names) ? names : [];
    }

    /// <summary>Views of the graphs held in a node's attributes.</summary>
    public IEnumerable<OnnxGraph> Subgraphs(NodeProto node)
    {
        foreach (var attribute in node.Attribute)
        {
            if (attribute.G is not null)
            {
                yield return new OnnxGraph(attribute.G, Model, this);
            }

            foreach (var graph in attribute.Graphs)
            {
                yield return new OnnxGraph(graph, Model, this);
            }
        }
    }

    /// <summary>Every node of this graph and of its subgraphs, each graph's nodes in topological order.</summary>
    public IEnumerable<(OnnxGraph Graph, NodeProto Node)> AllNodes()
    {
        foreach (var node in TopologicalOrder())
        {
            yield return (this, node);
            foreach (var subgraph in Subgraphs(node))
            {
                foreach (var inner in subgraph.AllNodes())
                {
                    yield return inner;
                }
            }
        }
    }

    /// <summary>The nodes in an order where every node comes after its producers; stable for graphs already sorted.</summary>
    public IReadOnlyList<NodeProto> TopologicalOrder()
    {
        var order = TrySort(out var stuck);
        if (order is null)
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.GraphInvalid,
                $"Graph '{Proto.Name}' has a cycle through node '{Describe(stuck!)}'."));
        }

        return order;
    }

    /// <summary>Reorders the stored nodes topologically (ONNX requires it of a saved graph).</summary>
    /// <summary>
    /// Stops listing initializers as graph inputs. IR 3 models do that (defaults a caller may override); passes that
    /// replace or reshape weights (quantization, pruning) drop them, as ONNX Runtime's own quantizer does.
    /// </summary>
    public void DropInitializerInputs()
    {
        var initializers = Proto.Initializer.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        for (var i = Proto.Input.Count - 1; i >= 0; i--)
        {
            if (initializers.Contains(Proto.Input[i].Name))
            {
                Proto.Input.RemoveAt(i);
            }
        }
    }

    public void SortTopologically()
    {
        var order = TopologicalOrder();
        Proto.Node.Clear();
        Proto.Node.AddRange(order);
        Invalidate();
    }

    /// <summary>Adds a node at the end; call <see cref="SortTopologically"/> after a batch of edits.</summary>
    public void AddNode(NodeProto node)
    {
        Proto.Node.Add(node);
        Invalidate();
    }

    /// <summary>Inserts a node just before another (its first consumer, usually), keeping the order valid.</summary>
    public void InsertNodeBefore(NodeProto anchor, NodeProto node)
    {
        var index = Proto.Node.IndexOf(anchor);
        if (index < 0)
        {
            throw new ArgumentException("The anchor node is not in this graph.", nameof(anchor));
        }

        Proto.Node.Insert(index, node);
        Invalidate();
    }

    public void RemoveNode(NodeProto node)
    {
        if (!Proto.Node.Remove(node))
        {
            throw new ArgumentException("The node is not in this graph.", nameof(node));
        }

        Invalidate();
    }

    /// <summary>Replaces a node with others at the same place.</summary>
    public void ReplaceNode(NodeProto old, params NodeProto[] replacements)
    {
        var index = Proto.Node.IndexOf(old);
        if (index < 0)
        {
            throw new ArgumentException("The node is not in this graph.", nameof(old));
        }

        Proto.Node.RemoveAt(index);
        for (var i = 0; i < replacements.Length; i++)
        {
            Proto.Node.Insert(index + i, replacements[i]);
        }

        Invalidate();
    }

    /// <summary>Adds an initializer, or replaces the one with the same name.</summary>
    public void SetInitializer(TensorProto tensor)
    {
        for (var i = 0; i < Proto.Initializer.Count; i++)
        {
            if (Proto.Initializer[i].Name == tensor.Name)
            {
                Proto.Initializer[i] = tensor;
                Invalidate();
                return;
            }
        }

        Proto.Initializer.Add(tensor);
        Invalidate();
    }

    public bool RemoveInitializer(string name)
    {
        for (var i = 0; i < Proto.Initializer.Count; i++)
        {
            if (Proto.Initializer[i].Name == name)
            {
                Proto.Initializer.RemoveAt(i);
                Invalidate();
                return true;
            }
        }

        return false;
    }

    /// <summary>Makes every reader of <paramref name="oldName"/> (nodes, subgraphs, graph outputs) read <paramref name="newName"/>.</summary>
    public void ReplaceAllUses(string oldName, string newName)
    {
        RenameUses(Proto, oldName, newName, renameOutputs: true);
        Invalidate();
    }

    /// <summary>
    /// Removes nodes whose outputs nobody reads (graph outputs count as read), then initializers nobody reads.
    /// Subgraphs are swept too. Returns the number of nodes removed.
    /// </summary>
    public int RemoveDeadNodes()
    {
        var removed = 0;
        foreach (var node in Proto.Node)
        {
            foreach (var subgraph in Subgraphs(node))
            {
                removed += subgraph.RemoveDeadNodes();
            }
        }

        Invalidate();
        var live = new HashSet<string>(StringComparer.Ordinal);
        foreach (var output in Proto.Output)
        {
            live.Add(output.Name);
        }

        var keep = new bool[Proto.Node.Count];
        for (var i = Proto.Node.Count - 1; i >= 0; i--)
        {
            var node = Proto.Node[i];
            if (!node.Output.Any(live.Contains) && !HasSideEffects(node))
            {
                continue;
            }

            keep[i] = true;
            foreach (var input in node.Input)
            {
                live.Add(input);
            }

            foreach (var input in ImplicitInputs(node))
            {
                live.Add(input);
            }
        }

        var kept = new List<NodeProto>(Proto.Node.Count);
        for (var i = 0; i < keep.Length; i++)
        {
            if (keep[i])
            {
                kept.Add(Proto.Node[i]);
            }
        }

        removed += Proto.Node.Count - kept.Count;
        if (kept.Count != Proto.Node.Count)
        {
            Proto.Node.Clear();
            Proto.Node.AddRange(kept);
        }

        // Initializers that are also graph inputs are part of the interface and stay.
        var inputs = Proto.Input.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        for (var i = Proto.Initializer.Count - 1; i >= 0; i--)
        {
            var name = Proto.Initializer[i].Name;
            if (!live.Contains(name) && !inputs.Contains(name))
            {
                Proto.Initializer.RemoveAt(i);
            }
        }

        Invalidate();
        return removed;
    }

    /// <summary>Names this graph defines: inputs, initializers, sparse initializers and node outputs.</summary>
    public static HashSet<string> DefinedNames(GraphProto graph)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var input in graph.Input)
        {
            names.Add(input.Name);
        }

        foreach (var tensor in graph.Initializer)
        {
            names.Add(tensor.Name);
        }

        foreach (var sparse in graph.SparseInitializer)
        {
            if (sparse.Values is not null)
            {
                names.Add(sparse.Values.Name);
            }
        }

        foreach (var node in graph.Node)
        {
            foreach (var output in node.Output)
            {
                if (output.Length > 0)
                {
                    names.Add(output);
                }
            }
        }

        return names;
    }

    internal static string Describe(NodeProto node) =>
        node.Name.Length > 0 ? $"{node.Name}' ({node.OpType})" : $"{node.OpType}' writing '{string.Join("', '", node.Output)}";

    /// <summary>Values read by the graph's nodes (and their subgraphs) that the graph does not define itself.</summary>
    internal static List<string> FreeVariables(GraphProto graph)
    {
        var defined = DefinedNames(graph);
        var free = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var node in graph.Node)
        {
            foreach (var input in node.Input.Concat(SubgraphFreeVariables(node)))
            {
                if (input.Length > 0 && !defined.Contains(input) && seen.Add(input))
                {
                    free.Add(input);
                }
            }
        }

        foreach (var output in graph.Output)
        {
            if (!defined.Contains(output.Name) && seen.Add(output.Name))
            {
                free.Add(output.Name);
            }
        }

        return free;
    }

    private static IEnumerable<string> SubgraphFreeVariables(NodeProto node)
    {
        foreach (var attribute in node.Attribute)
        {
            if (attribute.G is not null)
            {
                foreach (var name in FreeVariables(attribute.G))
                {
                    yield return name;
                }
            }

            foreach (var graph in attribute.Graphs)
            {
                foreach (var name in FreeVariables(graph))
                {
                    yield return name;
                }
            }
        }
    }

    private static bool HasSideEffects(NodeProto node) =>
        // Ops outside the standard domains may have effects we cannot see; keep them.
        node.Domain is not ("" or "ai.onnx" or "ai.onnx.ml" or "com.microsoft");

    private static void RenameUses(GraphProto graph, string oldName, string newName, bool renameOutputs)
    {
        var shadowed = false;
        foreach (var node in graph.Node)
        {
            for (var i = 0; i < node.Input.Count; i++)
            {
                if (node.Input[i] == oldName)
                {
                    node.Input[i] = newName;
                }
            }

            foreach (var attribute in node.Attribute)
            {
                foreach (var sub in attribute.G is null ? attribute.Graphs : attribute.Graphs.Prepend(attribute.G))
                {
                    // A subgraph that defines the name itself shadows the outer value.
                    if (!DefinedNames(sub).Contains(oldName))
                    {
                        RenameUses(sub, oldName, newName, renameOutputs: true);
                    }
                }
            }

            shadowed |= node.Output.Contains(oldName);
        }

        if (renameOutputs && !shadowed)
        {
            foreach (var output in graph.Output)
            {
                if (output.Name == oldName)
                {
                    output.Name = newName;
                }
            }
        }
    }

    private List<NodeProto>? TrySort(out NodeProto? stuck)
    {
        EnsureIndex();
        var nodes = Proto.Node;
        var pending = new Dictionary<NodeProto, int>(nodes.Count, ReferenceEqualityComparer.Instance);
        foreach (var node in nodes)
        {
            var count = 0;
            foreach (var input in node.Input.Concat(ImplicitInputs(node)).Distinct())
            {
                if (input.Length > 0 && producers!.TryGetValue(input, out var producer) && !ReferenceEquals(producer, node))
                {
                    count++;
                }
                else if (input.Length > 0 && producers!.TryGetValue(input, out _))
                {
                    stuck = node;
                    return null;
                }
            }

            pending[node] = count;
        }

        // Stable Kahn: always take the earliest ready node in stored order.
        var ready = new SortedSet<int>();
        var position = new Dictionary<NodeProto, int>(nodes.Count, ReferenceEqualityComparer.Instance);
        for (var i = 0; i < nodes.Count; i++)
        {
            position[nodes[i]] = i;
            if (pending[nodes[i]] == 0)
            {
                ready.Add(i);
            }
        }

        var order = new List<NodeProto>(nodes.Count);
        while (ready.Count > 0)
        {
            var index = ready.Min;
            ready.Remove(index);
            var node = nodes[index];
            order.Add(node);
            foreach (var output in node.Output.Distinct())
            {
                if (output.Length == 0 || !consumers!.TryGetValue(output, out var readers))
                {
                    continue;
                }

                foreach (var reader in readers.Distinct())
                {
                    if (--pending[reader] == 0)
                    {
                        ready.Add(position[reader]);
                    }
                }
            }
        }

        stuck = order.Count == nodes.Count ? null : nodes.First(n => pending[n] > 0);
        return order.Count == nodes.Count ? order : null;
    }

    private void EnsureIndex()
    {
        if (producers is not null)
        {
            return;
        }

        producers = new Dictionary<string, NodeProto>(StringComparer.Ordinal);
        consumers = new Dictionary<string, List<NodeProto>>(StringComparer.Ordinal);
        initializers = new Dictionary<string, TensorProto>(StringComparer.Ordinal);
        implicitInputs = new Dictionary<NodeProto, IReadOnlyList<string>>(ReferenceEqualityComparer.Instance);
        foreach (var tensor in Proto.Initializer)
        {
            initializers.TryAdd(tensor.Name, tensor);
        }

        foreach (var node in Proto.Node)
        {
            foreach (var output in node.Output)
            {
                if (output.Length > 0)
                {
                    producers.TryAdd(output, node);
                }
            }

            var outer = SubgraphFreeVariables(node).Distinct().ToList();
            if (outer.Count > 0)
            {
                implicitInputs[node] = outer;
            }

            foreach (var input in node.Input.Concat(outer).Distinct())
            {
                if (input.Length == 0)
                {
                    continue;
                }

                if (!consumers.TryGetValue(input, out var list))
                {
                    consumers[input] = list = [];
                }

                list.Add(node);
            }
        }
    }

    private void Invalidate()
    {
        producers = null;
        consumers = null;
        initializers = null;
        implicitInputs = null;
    }
}
