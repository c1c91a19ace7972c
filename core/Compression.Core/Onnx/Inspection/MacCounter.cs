using Compression.Core.Onnx.Protobuf;

namespace Compression.Core.Onnx.Inspection;

/// <summary>
/// Multiply-accumulates of one run of a model, counted from its graph and shapes (<see cref="StaticShapes"/>): the
/// MACs of its linear layers (MatMul, Gemm, Conv, ConvTranspose, the recurrent ops, and their integer and quantized
/// forms). Other ops count 0: their arithmetic is small beside the linear layers' and has no one agreed measure.
/// </summary>
public static class MacCounter
{
    /// <summary>
    /// Counts a model's MACs per sample: a graph input's leading symbolic dim (the batch) is 1, other symbolic dims
    /// take <paramref name="dims"/> by name. A model with a fixed batch is counted for that batch.
    /// </summary>
    public static MacCount Count(ModelProto model, IReadOnlyDictionary<string, long>? dims = null)
    {
        var shapes = StaticShapes.Of(model.Graph, dims);
        long macs = 0;
        var counted = 0;
        var uncounted = new List<string>();
        foreach (var node in model.Graph.Node)
        {
            if (!MacRules.TryGetValue(StaticShapes.OpKey(node), out var rule))
            {
                continue;
            }

            if (Apply(rule, node, shapes) is { } nodeMacs && long.MaxValue - macs >= nodeMacs)
            {
                macs += nodeMacs;
                counted++;
            }
            else
            {
                uncounted.Add(NodeName(node));
            }
        }

        // Shapes are not followed into If/Loop/Scan bodies (nor the number of times a loop runs), so their linear
        // layers are named as not counted rather than guessed.
        foreach (var graph in ModelWalker.Graphs(model).Skip(1))
        {
            foreach (var node in graph.Node)
            {
                if (MacRules.ContainsKey(StaticShapes.OpKey(node)))
                {
                    uncounted.Add(NodeName(node));
                }
            }
        }

        return new MacCount(macs, counted, uncounted);
    }

    /// <summary>The rule's count; null when the shapes overflow it (a malformed graph), as for unknown shapes.</summary>
    private static long? Apply(MacRule rule, NodeProto node, StaticShapes shapes)
    {
        try
        {
            return rule(node, shapes);
        }
        catch (OverflowException)
        {
            return null;
        }
    }

    private static string NodeName(NodeProto node) => node.Name.Length > 0 ? node.Name : $"{node.OpType} -> {node.Output.FirstOrDefault()}";

    /// <summary>A node's MACs, or null when a shape it needs is unknown.</summary>
    private delegate long? MacRule(NodeProto node, StaticShapes shapes);

    /// <summary>MACs by op type (domain-qualified outside the default domain); an op without an entry counts 0.</summary>
    private static readonly Dictionary<string, MacRule> MacRules = new(StringComparer.Ordinal)
    {
        ["MatMul"] = MatMul(0, 1),
        ["MatMulInteger"] = MatMul(0, 1),
        ["QLinearMatMul"] = MatMul(0, 3),
        ["com.microsoft.MatMulIntegerToFloat"] = MatMul(0, 1),
        ["com.microsoft.DynamicQuantizeMatMul"] = MatMul(0, 1),
        ["com.microsoft.MatMulNBits"] = MatMulNBits,
        ["Gemm"] = Gemm(0),
        ["com.microsoft.QGemm"] = Gemm(0),
        ["Conv"] = Conv(1),
        ["ConvInteger"] = Conv(1),
        ["QLinearConv"] = Conv(3),
        ["com.microsoft.FusedConv"] = Conv(1),
        ["ConvTranspose"] = ConvTranspose,
        ["LSTM"] = Recurrent,
        ["GRU"] = Recurrent,
        ["RNN"] = Recurrent,
        ["com.microsoft.DynamicQuantizeLSTM"] = Recurrent,
        // Linear, but how many MACs depends on the equation or the fused attention's layout: named as not counted.
        ["Einsum"] = (_, _) => null,
        ["com.microsoft.Attention"] = (_, _) => null,
        ["com.microsoft.MultiHeadAttention"] = (_, _) => null,
    };

    private static long? Elements(long[]? shape)
    {
        if (shape is null)
        {
            return null;
        }

        long product = 1;
        foreach (var d in shape)
        {
            if (d < 0)
            {
                return null;
            }

            product = checked(product * d);
        }

        return product;
    }

    private static long[]? Input(NodeProto node, StaticShapes shapes, int index) =>
        index < node.Input.Count ? shapes.KnownShape(node.Input[index]) : null;

    /// <summary>Each output element is a dot product over A's last dim.</summary>
    private static MacRule MatMul(int a, int b) => (node, shapes) =>
        Input(node, shapes, a) is { Length: > 0 } left
        && Elements(StaticShapes.MatMulShape(left, Input(node, shapes, b))) is { } outputs
            ? checked(outputs * left[^1])
            : null;

    /// <summary>B is packed 4-bit: K and N come from the attributes, A's rows times N outputs each K long.</summary>
    private static long? MatMulNBits(NodeProto node, StaticShapes shapes) =>
        Elements(Input(node, shapes, 0)) is { } inputs && Graphs.GraphEdits.IntAttribute(node, "N", -1) is var n and > 0
            ? checked(inputs * n)
            : null;

    private static MacRule Gemm(int a) => (node, shapes) =>
        Input(node, shapes, a) is { Length: 2 } left && Elements(shapes.KnownShape(node.Output[0])) is { } outputs
            ? checked(outputs * (Graphs.GraphEdits.IntAttribute(node, "transA", 0) != 0 ? left[0] : left[1]))
            : null;

    /// <summary>Each output element sums over W's [C/group, kernel...] window.</summary>
    private static MacRule Conv(int w) => (node, shapes) =>
        Elements(shapes.KnownShape(node.Output[0])) is { } outputs && Input(node, shapes, w) is { Length: > 2 } weight
            ? checked(outputs * Elements(weight[1..]))
            : null;

    /// <summary>Each input element is scattered through W's [C_out/group, kernel...] window.</summary>
    private static long? ConvTranspose(NodeProto node, StaticShapes shapes) =>
        Elements(Input(node, shapes, 0)) is { } inputs && Input(node, shapes, 1) is { Length: > 2 } weight
            ? checked(inputs * Elements(weight[1..]))
            : null;

    /// <summary>
    /// Every step multiplies the input by W and the hidden state by R, per direction: steps × batch × (|W| + |R|),
    /// whichever layout stores them.
    /// </summary>
    private static long? Recurrent(NodeProto node, StaticShapes shapes) =>
        Input(node, shapes, 0) is { Length: 3 } x
        && Elements(Input(node, shapes, 1)) is { } w && Elements(Input(node, shapes, 2)) is { } r
            ? checked(x[0] * x[1] * (w + r))
            : null;
}

/// <summary>
/// A model's multiply-accumulates per sample and how complete the count is: <see cref="UncountedNodes"/> names the
/// linear layers whose shapes could not be known, which <see cref="Macs"/> leaves out.
/// </summary>
public sealed record MacCount(long Macs, int CountedNodes, IReadOnlyList<string> UncountedNodes)
{
    /// <summary>Whether every linear layer was counted.</summary>
    public bool IsComplete => UncountedNodes.Count == 0;

    /// <summary>After over before; null unless both counts are complete (1 when both are 0).</summary>
    public static double? Ratio(MacCount before, MacCount after) =>
        !before.IsComplete || !after.IsComplete ? null : before.Macs == 0 ? (after.Macs == 0 ? 1 : null) : (double)after.Macs / before.Macs;

    public override string ToString() => IsComplete
        ? Macs.ToString("N0", System.Globalization.CultureInfo.InvariantCulture)
        : $"{Macs.ToString("N0", System.Globalization.CultureInfo.InvariantCulture)} ({UncountedNodes.Count} linear nodes not counted)";
}
