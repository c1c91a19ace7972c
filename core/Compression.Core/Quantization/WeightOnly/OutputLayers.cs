using Compression.Core.Onnx;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Passes.Graph;

namespace Compression.Core.Quantization.WeightOnly;

/// <summary>
/// The MatMul, Gemm and Conv nodes whose result is a model output, reached only through a constant bias, a monotonic
/// activation (Softmax, Sigmoid, Tanh ...) or layout ops: a classifier's logits, a recognizer's per-step scores, a
/// language model's head, a fully convolutional network's last Conv. The model's top-1 decisions are made on their
/// output, so their rounding error is not averaged away by later layers.
/// </summary>
internal static class OutputLayers
{
    private const int MaxSteps = 8;

    private static readonly HashSet<string> PassThrough = new(StringComparer.Ordinal)
    {
        "Softmax", "LogSoftmax", "Sigmoid", "Tanh", "Relu", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten", "Identity", "Cast",
    };

    public static HashSet<string> Of(OnnxGraph graph)
    {
        var layers = new HashSet<string>(StringComparer.Ordinal);
        foreach (var node in graph.Nodes)
        {
            if (node.OpType is "MatMul" or "Gemm" or "Conv" && OnnxModel.NormalizeDomain(node.Domain).Length == 0 && ReachesOutput(graph, node.Output[0]))
            {
                layers.Add(node.Name);
            }
        }

        return layers;
    }

    private static bool ReachesOutput(OnnxGraph graph, string value)
    {
        for (var step = 0; step < MaxSteps; step++)
        {
            if (graph.IsGraphOutput(value))
            {
                return true;
            }

            if (graph.Consumers(value) is not [var next] || OnnxModel.NormalizeDomain(next.Domain).Length != 0
                || !(PassThrough.Contains(next.OpType) && next.Input[0] == value || IsBias(graph, next, value)))
            {
                return false;
            }

            value = next.Output[0];
        }

        return false;
    }

    private static bool IsBias(OnnxGraph graph, Onnx.Protobuf.NodeProto node, string value) =>
        node.OpType is "Add" or "Sub" && node.Input.Count == 2 && node.Input[0] == value && ConstantSources.Find(graph, node.Input[1]) is not null
        || node.OpType == "Add" && node.Input.Count == 2 && node.Input[1] == value && ConstantSources.Find(graph, node.Input[0]) is not null;
}
