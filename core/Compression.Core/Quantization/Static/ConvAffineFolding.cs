using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Passes.Graph;

namespace Compression.Core.Quantization.Static;

/// <summary>
/// Folds element-wise scales and shifts by constants into the Conv next to them, exactly: after a Conv, Mul or Div by
/// a constant per output channel (or a scalar) scales the channel's weights and bias, Add or Sub shifts its bias;
/// before a Conv, Mul or Div by a constant per input channel scales the weights that read the channel (zero padding
/// stays zero), and Add or Sub of one moves into the bias when the Conv has no padding (every tap then reads a shifted
/// value). PaddleOCR v4's recognizer wraps every activation in such "learnable affine blocks" (a x + b, scalar a and
/// b) and divides HardSwish by 6 apart: folded, each Conv output is the activation's input itself, and every tensor
/// the quantizer would round twice (the Conv's output, then the affine's) is rounded once.
/// </summary>
internal static class ConvAffineFolding
{
    /// <summary>Folds until nothing is left to fold; returns how many nodes were removed.</summary>
    public static int Fold(OnnxGraph graph)
    {
        var folded = 0;
        bool changed;
        do
        {
            changed = false;
            foreach (var node in graph.TopologicalOrder())
            {
                if (node.OpType is "Mul" or "Div" or "Add" or "Sub" && GraphScopes.IsStandard(node) && node.Input.Count == 2
                    && (FoldAfter(graph, node) || FoldBefore(graph, node)))
                {
                    folded++;
                    changed = true;
                    break; // the graph changed under the enumeration
                }
            }
        }
        while (changed);

        return folded;
    }

    /// <summary>Conv -> op(constant): the op's output becomes the Conv's.</summary>
    private static bool FoldAfter(OnnxGraph graph, NodeProto op)
    {
        foreach (var side in Sides(op))
        {
            if (graph.Producer(op.Input[side]) is not { } conv || !IsFoldableConv(graph, conv) || graph.Consumers(conv.Output[0]).Count != 1
                || graph.IsGraphOutput(conv.Output[0]) || graph.Initializer(op.Input[1 - side]) is not { } constant)
            {
                continue;
            }

            var weight = graph.Initializer(conv.Input[1])!;
            var outputs = (int)weight.Dims[0];
            if (PerChannel(constant, outputs) is not { } k || op.OpType == "Div" && Array.Exists(k, v => v == 0))
            {
                continue;
            }

            var weights = TensorCodec.ToSingle(weight);
            var bias = Bias(graph, conv, outputs);
            var run = weights.Length / outputs;
            for (var o = 0; o < outputs; o++)
            {
                switch (op.OpType)
                {
                    case "Mul" or "Div":
                        var factor = op.OpType == "Mul" ? k[o] : 1 / k[o];
                        for (var i = o * run; i < (o + 1) * run; i++)
                        {
                            weights[i] = (float)(weights[i] * factor);
                        }

                        bias[o] *= factor;
                        break;
                    case "Add":
                        bias[o] += k[o];
                        break;
                    default:
                        bias[o] -= k[o];
                        break;
                }
            }

            Rewrite(graph, conv, weights, bias);
            var output = op.Output[0];
            graph.RemoveNode(op);
            GraphScopes.RemoveValueInfo(graph, conv.Output[0]);
            conv.Output[0] = output;
            return true;
        }

        return false;
    }

    /// <summary>op(constant) -> Conv: the Conv reads the op's other input.</summary>
    private static bool FoldBefore(OnnxGraph graph, NodeProto op)
    {
        var readers = graph.Consumers(op.Output[0]);
        if (readers.Count != 1 || graph.IsGraphOutput(op.Output[0]) || readers[0] is not { } conv || !IsFoldableConv(graph, conv)
            || conv.Input[0] != op.Output[0])
        {
            return false;
        }

        foreach (var side in Sides(op))
        {
            var input = op.Input[side];
            if (graph.Initializer(input) is not null || graph.Initializer(op.Input[1 - side]) is not { } constant)
            {
                continue;
            }

            var weight = graph.Initializer(conv.Input[1])!;
            var (outputs, perGroup) = ((int)weight.Dims[0], (int)weight.Dims[1]);
            var group = (int)GraphEdits.IntAttribute(conv, "group", 1);
            var inputs = perGroup * group;
            var shift = op.OpType is "Add" or "Sub";
            if (PerChannel(constant, inputs) is not { } k || op.OpType == "Div" && Array.Exists(k, v => v == 0) || shift && Padded(conv))
            {
                continue;
            }

            var weights = TensorCodec.ToSingle(weight);
            var bias = Bias(graph, conv, outputs);
            var taps = weights.Length / (outputs * perGroup);
            var outputsPerGroup = outputs / group;
            for (var o = 0; o < outputs; o++)
            {
                for (var i = 0; i < perGroup; i++)
                {
                    var channel = o / outputsPerGroup * perGroup + i;
                    var first = (o * perGroup + i) * taps;
                    for (var t = first; t < first + taps; t++)
                    {
                        switch (op.OpType)
                        {
                            case "Mul":
                                weights[t] = (float)(weights[t] * k[channel]);
                                break;
                            case "Div":
                                weights[t] = (float)(weights[t] / k[channel]);
                                break;
                            case "Add":
                                bias[o] += weights[t] * k[channel];
                                break;
                            default:
                                bias[o] -= weights[t] * k[channel];
                                break;
                        }
                    }
                }
            }

            Rewrite(graph, conv, weights, bias);
            conv.Input[0] = input;
            graph.RemoveNode(op);
            GraphScopes.RemoveValueInfo(graph, op.Output[0]);
            return true;
        }

        return false;
    }

    /// <summary>The input positions that may be the non-constant one: either for Mul and Add, the first for Div and Sub.</summary>
    private static int[] Sides(NodeProto op) => op.OpType is "Mul" or "Add" ? [0, 1] : [0];

    /// <summary>A 2-D Conv on a float initializer weight (and initializer bias, if any), with explicit or no padding.</summary>
    private static bool IsFoldableConv(OnnxGraph graph, NodeProto conv) =>
        conv.OpType == "Conv" && GraphScopes.IsStandard(conv) && conv.Input.Count >= 2
        && graph.Initializer(conv.Input[1]) is { } weight && weight.Dims.Count == 4 && TensorCodec.ElementTypeOf(weight) == ElementType.Float
        && graph.Consumers(conv.Input[1]).Count == 1 && !GraphScopes.IsGraphInput(graph, conv.Input[1])
        && (conv.Input.Count < 3 || conv.Input[2].Length == 0 || graph.Initializer(conv.Input[2]) is { } bias
            && TensorCodec.ElementTypeOf(bias) == ElementType.Float && graph.Consumers(conv.Input[2]).Count == 1 && !GraphScopes.IsGraphInput(graph, conv.Input[2]))
        && (conv.Attribute.FirstOrDefault(a => a.Name == "auto_pad")?.S.ToStringUtf8() ?? "") is "" or "NOTSET" or "VALID";

    private static bool Padded(NodeProto conv) =>
        conv.Attribute.FirstOrDefault(a => a.Name == "pads") is { } pads && pads.Ints.Any(p => p != 0);

    /// <summary>The constant as one value per channel (a scalar repeated), or null unless it broadcasts along the channel axis of NCHW only.</summary>
    private static double[]? PerChannel(TensorProto constant, int channels)
    {
        if (TensorCodec.ElementTypeOf(constant) != ElementType.Float || constant.Dims.Count > 4)
        {
            return null;
        }

        var values = TensorCodec.ToSingle(constant);
        if (values.Length == 1)
        {
            return Enumerable.Repeat((double)values[0], channels).ToArray();
        }

        // Right-aligned against [N, C, H, W]: [C, 1, 1] or [1, C, 1, 1].
        var dims = constant.Dims;
        if (values.Length != channels || dims.Count < 3 || dims[^3] != channels || dims[^1] != 1 || dims[^2] != 1 || dims.Count == 4 && dims[0] != 1)
        {
            return null;
        }

        return Array.ConvertAll(values, v => (double)v);
    }

    private static double[] Bias(OnnxGraph graph, NodeProto conv, int outputs) =>
        conv.Input.Count > 2 && conv.Input[2].Length > 0
            ? Array.ConvertAll(TensorCodec.ToSingle(graph.Initializer(conv.Input[2])!), v => (double)v)
            : new double[outputs];

    /// <summary>Writes the new weight and bias under their names (each read by this Conv only), adding a bias if there was none.</summary>
    private static void Rewrite(OnnxGraph graph, NodeProto conv, float[] weights, double[] bias)
    {
        var weight = graph.Initializer(conv.Input[1])!;
        graph.SetInitializer(TensorCodec.FromSingle(weight.Name, weight.Dims.ToArray(), weights, ElementType.Float));
        if (conv.Input.Count < 3 || conv.Input[2].Length == 0)
        {
            var name = GraphScopes.UniqueName(OnnxGraph.DefinedNames(graph.Proto), conv.Name + "_bias");
            while (conv.Input.Count < 3)
            {
                conv.Input.Add("");
            }

            conv.Input[2] = name;
        }

        graph.SetInitializer(TensorCodec.FromSingle(conv.Input[2], [bias.Length], Array.ConvertAll(bias, b => (float)b), ElementType.Float));
    }
}
