using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;

namespace Compression.Core.Quantization.Dynamic;

/// <summary>MatMul(A, B) with B a constant float matrix [K, N]; a following Add of a constant [N] becomes the bias.</summary>
internal sealed class MatMulRewrite : IDynamicOpRewrite
{
    public int? WeightInput => 1;

    public string? Rewrite(DynamicRewriter rewriter, NodeProto node, TensorProto? weight)
    {
        if (weight is null)
        {
            return rewriter.NoWeight(node.Input[1]);
        }

        var (k, n) = ((int)weight.Dims[0], (int)weight.Dims[1]);
        var quantized = rewriter.MatMulWeight(weight, transpose: false, k, n);
        var biasAdd = FindBiasAdd(rewriter, node, n);
        var output = biasAdd?.Add.Output[0] ?? node.Output[0];
        var emitted = rewriter.EmitMatMul(node, node.Input[0], quantized, quantized.Scale, biasAdd?.Bias, output);
        if (biasAdd is { } fused)
        {
            rewriter.Graph.RemoveNode(fused.Add);
            GraphScopes.RemoveValueInfo(rewriter.Graph, node.Output[0]);
            rewriter.MarkReplaced(fused.BiasName);
        }

        rewriter.Replace(node, emitted);
        return null;
    }

    /// <summary>An Add right after the MatMul (its only reader) of a constant float vector as long as the output row.</summary>
    private static (NodeProto Add, float[] Bias, string BiasName)? FindBiasAdd(DynamicRewriter rewriter, NodeProto matMul, int columns)
    {
        var graph = rewriter.Graph;
        var output = matMul.Output[0];
        if (rewriter.Form != DynamicMatMulForm.DynamicQuantizeMatMul || graph.IsGraphOutput(output) || graph.Consumers(output) is not [{ OpType: "Add" } add]
            || !GraphScopes.IsStandard(add))
        {
            return null;
        }

        var other = add.Input[0] == output ? add.Input[1] : add.Input[0];
        if (other == output || rewriter.Constant(other) is not { } bias || TensorCodec.ElementTypeOf(bias) != ElementType.Float
            || bias.Dims.Count != 1 || bias.Dims[0] != columns)
        {
            return null;
        }

        return (add, TensorCodec.ToSingle(bias), other);
    }
}
