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
    };

    public static bool TryRaise(OnnxModel model, long target)
    {
        var current = model.OpsetVersion("") ?? 1;
        if (current >= target)
        {
            return true;
        }

        var graphs = GraphScopes.InnermostFirst(model);
        foreach (var graph in graphs)
        {
            foreach (var node in graph.Nodes)
            {
                if (GraphScopes.IsStandard(node) && !Stable.Contains(node.OpType) && !Convertible(node, current, target))
                {
                    return false;
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

        foreach (var opset in model.Proto.OpsetImport)
        {
            if (OnnxModel.NormalizeDomain(opset.Domain).Length == 0)
            {
                opset.Version = target;
            }
        }

        // Opset 13 needs IR 7; IR 3 models (mnist-8) would be refused.
        model.Proto.IrVersion = Math.Max(model.Proto.IrVersion, 7);
        return true;
    }

    /// <summary>Whether an op outside the stable list can move to the target opset (rewritten, or unchanged up to it).</summary>
    private static bool Convertible(NodeProto node, long current, long target) => node.OpType switch
    {
        "Clip" => true,
        "Squeeze" or "Unsqueeze" => true,
        "Softmax" or "LogSoftmax" or "Hardmax" or "Split" or "ReduceSum" => target < 13,
        "Pad" or "Resize" => target < 11,
        "Slice" or "Dropout" or "TopK" or "Upsample" => current >= 10 && target < 12,
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
            case "Squeeze" or "Unsqueeze" when current < 13 && target >= 13:
                if (Take(node, "axes") is { } axes)
                {
                    var name = GraphScopes.UniqueName(names, $"{node.Output[0]}_axes");
                    graph.SetInitializer(TensorCodec.FromInt64(name, [axes.Ints.Count], axes.Ints.ToArray()));
                    node.Input.Add(name);
                }

                break;
        }
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

    private static void TrimEmptyInputs(NodeProto node)
    {
        while (node.Input.Count > 1 && node.Input[^1].Length == 0)
        {
            node.Input.RemoveAt(node.Input.Count - 1);
        }
    }
}
