using Compression.Core.Layers;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Passes.Graph;

namespace Compression.Core.Quantization.Float;

/// <summary>
/// One full conversion of the main graph to a 16-bit float type. Every float32 value gets a home precision: the
/// target for outputs of converted nodes and for constants some converted node reads, float32 for outputs of
/// blocked nodes, graph inputs and outputs (when I/O types are kept) and constants only blocked nodes read. A
/// reader that needs the other precision gets one shared Cast per value; a Cast that would read another Cast reads
/// that Cast's source instead, so no Cast chains appear and two adjacent blocked nodes exchange float32 directly.
/// </summary>
internal sealed class PrecisionRewriter
{
    private readonly OnnxGraph graph;
    private readonly ElementType target;
    private readonly IReadOnlySet<string> blockedOps;
    private readonly NodeExclusions exclusions;
    private readonly bool keepIoTypes;
    private readonly HashSet<string> names;
    private readonly HashSet<string> reduced = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Value, bool Reduced), string> casts = [];
    private readonly HashSet<NodeProto> blocked = new(ReferenceEqualityComparer.Instance);
    private Dictionary<string, ElementType> types = [];

    public PrecisionRewriter(OnnxModel model, ElementType target, IReadOnlySet<string> blockedOps, NodeExclusions exclusions, bool keepIoTypes)
    {
        graph = model.MainGraph;
        this.target = target;
        this.blockedOps = blockedOps;
        this.exclusions = exclusions;
        this.keepIoTypes = keepIoTypes;
        names = GraphScopes.AllValueNames(model);
    }

    public int ConvertedNodes { get; private set; }

    public int ConvertedInitializers { get; private set; }

    public int CastsInserted { get; private set; }

    public Dictionary<string, int> BlockedNodes { get; } = new(StringComparer.Ordinal);

    private string Suffix => target == ElementType.Float16 ? "_fp16" : "_bf16";

    public void Rewrite()
    {
        types = ValueTypes.Infer(graph);
        var nodes = graph.TopologicalOrder().ToList();
        foreach (var node in nodes)
        {
            if (IsBlocked(node))
            {
                blocked.Add(node);
            }
        }

        ConvertGraphInputs();
        ConvertInitializers();
        foreach (var node in nodes)
        {
            AssignOutputs(node);
        }

        ConvertGraphOutputs();
        foreach (var node in nodes)
        {
            ConnectInputs(node);
        }

        foreach (var value in graph.Proto.ValueInfo)
        {
            if (reduced.Contains(value.Name) && value.Type?.TensorType is { ElemType: (int)ElementType.Float } tensorType)
            {
                tensorType.ElemType = (int)target;
            }
        }

        graph.SortTopologically();
    }

    private bool IsBlocked(NodeProto node) =>
        !GraphScopes.IsStandard(node) || blockedOps.Contains(node.OpType) || exclusions.Excludes(node)
        || node.Attribute.Any(a => a.G is not null || a.Graphs.Count > 0);

    private bool IsFloat(string value) => value.Length > 0 && types.TryGetValue(value, out var type) && type == ElementType.Float;

    /// <summary>Whether some reader computes in the target type on this value.</summary>
    private bool ReadInTarget(string value)
    {
        foreach (var reader in graph.Consumers(value))
        {
            if (blocked.Contains(reader))
            {
                continue;
            }

            for (var i = 0; i < reader.Input.Count; i++)
            {
                if (reader.Input[i] == value && !FloatBlockList.IsFixedFloatInput(reader.OpType, i))
                {
                    return true;
                }
            }
        }

        return false;
    }

    private void ConvertGraphInputs()
    {
        if (keepIoTypes)
        {
            return;
        }

        foreach (var input in graph.Proto.Input)
        {
            if (graph.Initializer(input.Name) is null && input.Type?.TensorType is { ElemType: (int)ElementType.Float } tensorType)
            {
                tensorType.ElemType = (int)target;
                reduced.Add(input.Name);
            }
        }
    }

    private void ConvertInitializers()
    {
        foreach (var tensor in graph.Proto.Initializer.ToList())
        {
            if (tensor.DataType != (int)ElementType.Float || GraphScopes.IsGraphInput(graph, tensor.Name) || !ReadInTarget(tensor.Name))
            {
                continue;
            }

            graph.SetInitializer(HalfValues.Convert(tensor, tensor.Name, target));
            reduced.Add(tensor.Name);
            ConvertedInitializers++;
        }
    }

    /// <summary>Outputs of converted nodes live in the target type; value sources (Constant, Cast, ConstantOfShape) only when read there.</summary>
    private void AssignOutputs(NodeProto node)
    {
        var touchesFloat = node.Input.Any(IsFloat) || node.Output.Any(IsFloat);
        if (blocked.Contains(node))
        {
            if (touchesFloat)
            {
                BlockedNodes[node.OpType] = BlockedNodes.GetValueOrDefault(node.OpType) + 1;
            }

            return;
        }

        switch (node.OpType)
        {
            case "Constant" when IsFloat(node.Output[0]) && ReadInTarget(node.Output[0]):
                ConvertAttribute(node, "value");
                ConvertedInitializers++;
                reduced.Add(node.Output[0]);
                return;
            case "ConstantOfShape" when IsFloat(node.Output[0]) && ReadInTarget(node.Output[0]):
                ConvertAttribute(node, "value");
                reduced.Add(node.Output[0]);
                ConvertedNodes++;
                return;
            case "Cast" when IsFloat(node.Output[0]) && ReadInTarget(node.Output[0]):
                node.Attribute.First(a => a.Name == "to").I = (long)target;
                reduced.Add(node.Output[0]);
                ConvertedNodes++;
                return;
            case "Constant" or "ConstantOfShape" or "Cast":
                return;
        }

        foreach (var output in node.Output)
        {
            if (IsFloat(output))
            {
                reduced.Add(output);
            }
        }

        if (touchesFloat)
        {
            ConvertedNodes++;
        }
    }

    /// <summary>A Constant's value_float(s) or value tensor, or ConstantOfShape's value, in the target type.</summary>
    private void ConvertAttribute(NodeProto node, string tensorAttribute)
    {
        var value = ConstantSources.DenseValue(node) ?? node.Attribute.First(a => a.Name == tensorAttribute).T;
        var converted = HalfValues.Convert(value, value.Name, target);
        for (var i = node.Attribute.Count - 1; i >= 0; i--)
        {
            if (node.Attribute[i].Name is "value" or "value_float" or "value_floats")
            {
                node.Attribute.RemoveAt(i);
            }
        }

        node.Attribute.Add(new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = converted });
    }

    /// <summary>A float output produced in the other precision is renamed and reaches the graph output through a Cast.</summary>
    private void ConvertGraphOutputs()
    {
        foreach (var output in graph.Proto.Output)
        {
            var name = output.Name;
            if (!IsFloat(name) || graph.Producer(name) is not { } producer)
            {
                continue;
            }

            if (!keepIoTypes && output.Type?.TensorType is { } tensorType)
            {
                tensorType.ElemType = (int)target;
            }

            if (reduced.Contains(name) == !keepIoTypes)
            {
                continue;
            }

            var inner = GraphScopes.UniqueName(names, name + (keepIoTypes ? Suffix : "_fp32"));
            foreach (var reader in graph.Consumers(name).ToList())
            {
                for (var i = 0; i < reader.Input.Count; i++)
                {
                    if (reader.Input[i] == name)
                    {
                        reader.Input[i] = inner;
                    }
                }
            }

            producer.Output[producer.Output.IndexOf(name)] = inner;
            types[inner] = ElementType.Float;
            if (keepIoTypes)
            {
                reduced.Add(inner);
                reduced.Remove(name);
            }
            else
            {
                reduced.Add(name);
            }

            graph.AddNode(CastNode(inner, name, keepIoTypes ? ElementType.Float : target));
            CastsInserted++;
        }
    }

    private void ConnectInputs(NodeProto node)
    {
        var isBlocked = blocked.Contains(node);
        for (var i = 0; i < node.Input.Count; i++)
        {
            var value = node.Input[i];
            if (!IsFloat(value))
            {
                continue;
            }

            var wantReduced = !isBlocked && !FloatBlockList.IsFixedFloatInput(node.OpType, i);
            if (reduced.Contains(value) != wantReduced)
            {
                node.Input[i] = Converted(value, wantReduced);
            }
        }
    }

    /// <summary>The value in the other precision: one Cast per value and direction, reading past a Cast that made the value.</summary>
    private string Converted(string value, bool toReduced)
    {
        if (casts.TryGetValue((value, toReduced), out var known))
        {
            return known;
        }

        var source = graph.Producer(value) is { OpType: "Cast" } cast && GraphScopes.IsStandard(cast) ? cast.Input[0] : value;
        var name = GraphScopes.UniqueName(names, value + (toReduced ? Suffix : "_fp32"));
        graph.AddNode(CastNode(source, name, toReduced ? target : ElementType.Float));
        CastsInserted++;
        types[name] = ElementType.Float;
        if (toReduced)
        {
            reduced.Add(name);
        }

        casts[(value, toReduced)] = name;
        return name;
    }

    private static NodeProto CastNode(string input, string output, ElementType to)
    {
        var node = new NodeProto { OpType = "Cast", Name = output + "_cast" };
        node.Input.Add(input);
        node.Output.Add(output);
        node.Attribute.Add(new AttributeProto { Name = "to", Type = AttributeProto.Types.AttributeType.Int, I = (long)to });
        return node;
    }
}
