using Compression.Core.Onnx;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Passes.Graph;

namespace Compression.Core.Quantization.Static;

/// <summary>
/// Raises the default-domain opset import to what the quantized ops need (10 for QuantizeLinear, 13 for
/// per-channel axis and for int8 MaxPool). Most ops mean the same from opset 7 to 13; Clip (11) and
/// Squeeze/Unsqueeze (13) moved attributes to inputs and are rewritten. A model holding any other op whose
/// meaning changed is left alone and the caller uses ONNX Runtime's com.microsoft QuantizeLinear/DequantizeLinear.
/// </summary>
internal static class OpsetUpgrade
{
    /// <summary>Ops whose inference meaning and attributes stay valid from opset 7 up to 13.</summary>
    private static readonly HashSet<string> Stable = new(StringComparer.Ordinal)
    {
        "Conv", "ConvTranspose", "Relu", "LeakyRelu", "PRelu", "Elu", "Selu", "Sigmoid", "HardSigmoid", "Tanh", "Softplus",
        "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "LRN", "InstanceNormalization", "BatchNormalization",
        "Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Exp", "Log", "Neg", "Abs", "Reciprocal", "Floor", "Ceil", "Sign", "Erf",
        "Sin", "Cos", "Max", "Min", "Sum", "Mean", "MatMul", "Gemm", "Reshape", "Flatten", "Transpose", "Concat", "Tile",
        "Shape", "Gather", "Cast", "Identity", "Constant", "ConstantOfShape", "Expand", "Where", "Equal", "Greater", "Less",
        "Not", "And", "Or", "ReduceMean", "ReduceMax", "ReduceMin", "ArgMax", "ArgMin", "Range",
        "LSTM", "GRU", "RNN", // version 7 until 14, which adds layout
    };

    /// <summary>Raises the import to <paramref name="target"/>; returns null when done, else the op type that prevents it.</summary>
    public static string? TryRaise(OnnxModel model, long target)
    {
        var current = model.OpsetVersion("") ?? 1;
        if (current >= target)
        {
            return null;
        }

        var graphs = GraphScopes.InnermostFirst(model);
        foreach (var graph in graphs)
        {
            foreach (var node in graph.Nodes)
            {
                if (GraphScopes.IsStandard(node) && !Stable.Contains(node.OpType) && !Convertible(node, current, target))
                {
                    return node.OpType;
                }
            }
        }

        var names = GraphScopes.AllValueNames(model);
        foreach (var graph in graphs)
        {
            foreach (var node in graph.Nodes.ToList())
            {
                if (GraphScopes.IsStandard(node))
                {
                    Convert(graph, node, current, target, names);
                }
            }
        }

        foreach (var graph in graphs)
        {
            graph.SortTopologically();
        }

        foreach (var opset in model.Proto.OpsetImport)
        {
            if (OnnxModel.NormalizeDomain(opset.Domain).Length == 0)
            {
                opset.Version = target;
            }
        }

        // Opset 13 needs IR 7; IR 3 models (mnist-8) would be refused.
        model.Proto.IrVersion = Math.Max(model.Proto.IrVersion, 7);
        return null;
    }

    /// <summary>Whether an op outside the stable list can move to the target opset (rewritten, or unchanged up to it).</summary>
    private static bool Convertible(NodeProto node, long current, long target) => node.OpType switch
    {
        "Clip" => true,
        "Squeeze" or "Unsqueeze" => true,
        "Softmax" or "LogSoftmax" or "Hardmax" => true,
        "Split" or "ReduceSum" => target < 13,
        "Pad" or "Resize" => target < 11,
        "Slice" => true,
        "Dropout" or "TopK" or "Upsample" => current >= 10 && target < 12,
        _ => false,
    };

    private static void Convert(OnnxGraph graph, NodeProto node, long current, long target, HashSet<string> names)
    {
        switch (node.OpType)
        {
            case "Clip" when current < 11 && target >= 11:
                var min = Take(node, "min");
                var max = Take(node, "max");
                node.Input.Add(min is null ? "" : Scalar(graph, names, node, "min", min.F));
                node.Input.Add(max is null ? "" : Scalar(graph, names, node, "max", max.F));
                TrimEmptyInputs(node);
                break;
            case "Slice" when current < 10 && target >= 10:
                // Opset 10 reads starts, ends and axes as inputs, with the same clamping.
                var starts = Take(node, "starts")!;
                var ends = Take(node, "ends")!;
                var sliceAxes = Take(node, "axes");
                node.Input.Add(Int64s(graph, names, node, "starts", starts.Ints));
                node.Input.Add(Int64s(graph, names, node, "ends", ends.Ints));
                if (sliceAxes is not null)
                {
                    node.Input.Add(Int64s(graph, names, node, "axes", sliceAxes.Ints));
                }

                break;
            case "Softmax" or "LogSoftmax" or "Hardmax" when current < 13 && target >= 13:
                SoftmaxOverFlattened(graph, node, names);
                break;
            case "Squeeze" or "Unsqueeze" when current < 13 && target >= 13:
                if (Take(node, "axes") is { } axes)
                {
                    node.Input.Add(Int64s(graph, names, node, "axes", axes.Ints));
                }

                break;
        }
    }

    /// <summary>
    /// Before opset 13 Softmax normalizes over all dims from its axis on (the input seen as 2-D), from 13 over the axis
    /// alone. Unless the axis is already the last, the old meaning is rebuilt exactly without knowing the rank:
    /// Flatten at the axis, Softmax over the last dim, Reshape back to the input's shape.
    /// </summary>
    private static void SoftmaxOverFlattened(OnnxGraph graph, NodeProto node, HashSet<string> names)
    {
        var axis = Take(node, "axis")?.I ?? 1;
        node.Attribute.Add(GraphEdits.Int("axis", -1));
        if (axis == -1)
        {
            return;
        }

        var input = node.Input[0];
        var output = node.Output[0];
        var shape = GraphScopes.UniqueName(names, $"{output}_input_shape");
        var flat = GraphScopes.UniqueName(names, $"{output}_flat_input");
        var flatOutput = GraphScopes.UniqueName(names, $"{output}_flat");
        var flatten = GraphEdits.Node("Flatten", flat, [input], [flat]);
        flatten.Attribute.Add(GraphEdits.Int("axis", axis));
        graph.InsertNodeBefore(node, GraphEdits.Node("Shape", shape, [input], [shape]));
        graph.InsertNodeBefore(node, flatten);
        node.Input[0] = flat;
        node.Output[0] = flatOutput;
        graph.AddNode(GraphEdits.Node("Reshape", output + "_restore_shape", [flatOutput, shape], [output]));
    }

    private static AttributeProto? Take(NodeProto node, string name)
    {
        for (var i = 0; i < node.Attribute.Count; i++)
        {
            if (node.Attribute[i].Name == name)
            {
                var attribute = node.Attribute[i];
                node.Attribute.RemoveAt(i);
                return attribute;
            }
        }

        return null;
    }

    private static string Scalar(OnnxGraph graph, HashSet<string> names, NodeProto node, string what, float value)
    {
        var name = GraphScopes.UniqueName(names, $"{node.Output[0]}_{what}");
        graph.SetInitializer(TensorCodec.FromSingle(name, [], [value], ElementType.Float));
        return name;
    }

    private static string Int64s(OnnxGraph graph, HashSet<string> names, NodeProto node, string what, IReadOnlyList<long> values)
    {
        var name = GraphScopes.UniqueName(names, $"{node.Output[0]}_{what}");
        graph.SetInitializer(TensorCodec.FromInt64(name, [values.Count], values.ToArray()));
        return name;
    }

    private static void TrimEmptyInputs(NodeProto node)
    {
        while (node.Input.Count > 1 && node.Input[^1].Length == 0)
        {
            node.Input.RemoveAt(node.Input.Count - 1);
        }
    }
}
