using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Passes.Graph;

namespace Compression.Core.Quantization.Recurrent;

/// <summary>The per-op-type table of the recurrent ops whose W (input 1) and R (input 2) can be quantized.</summary>
internal static class RecurrentOps
{
    /// <summary>Gates per op type, the row blocks of W and R: LSTM i, o, f, c; GRU z, r, h; RNN one.</summary>
    private static readonly Dictionary<string, int> Gates = new(StringComparer.Ordinal)
    {
        ["LSTM"] = 4,
        ["GRU"] = 3,
        ["RNN"] = 1,
    };

    public static bool IsRecurrent(NodeProto node) => GraphScopes.IsStandard(node) && Gates.ContainsKey(node.OpType);

    /// <summary>The node's constant float W and R, or null with why they cannot be quantized.</summary>
    public static RecurrentWeights? Find(OnnxGraph graph, NodeProto node, out string reason)
    {
        // ONNX Runtime's CPU kernels (the float ones and DynamicQuantizeLSTM alike) refuse layout 1, so neither the
        // rewritten model nor the original could be run to check the result.
        if (GraphEdits.IntAttribute(node, "layout", 0) != 0)
        {
            reason = "layout 1 (batch first), which ONNX Runtime's recurrent kernels do not run";
            return null;
        }

        var w = node.Input.Count > 1 ? ConstantSources.Find(graph, node.Input[1]) : null;
        var r = node.Input.Count > 2 ? ConstantSources.Find(graph, node.Input[2]) : null;
        if (w is null || r is null)
        {
            reason = "its W or R is computed at run time or is a graph input, not a constant";
            return null;
        }

        var gates = Gates[node.OpType];
        if (TensorCodec.ElementTypeOf(w) != ElementType.Float || TensorCodec.ElementTypeOf(r) != ElementType.Float
            || w.Dims.Count != 3 || r.Dims.Count != 3 || r.Dims[2] <= 0 || w.Dims[2] <= 0
            || w.Dims[0] is not (1 or 2) || r.Dims[0] != w.Dims[0]
            || w.Dims[1] != gates * r.Dims[2] || r.Dims[1] != gates * r.Dims[2])
        {
            reason = "its W and R are not float [directions, gates x hidden, size] tensors";
            return null;
        }

        reason = "";
        return new RecurrentWeights(node, w, r, (int)w.Dims[0], gates, (int)r.Dims[2]);
    }
}
