using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;

namespace Compression.Core.Quantization.Dynamic;

/// <summary>Gemm with transA 0 and a constant B; transB is undone offline, alpha goes into the scale, beta*C into the bias.</summary>
internal sealed class GemmRewrite : IDynamicOpRewrite
{
    public int? WeightInput => 1;

    public string? Rewrite(DynamicRewriter rewriter, NodeProto node, TensorProto? weight)
    {
        if (GraphEdits.IntAttribute(node, "transA", 0) != 0)
        {
            return "transA is set";
        }

        if (weight is null)
        {
            return rewriter.NoWeight(node.Input[1]);
        }

        var transB = GraphEdits.IntAttribute(node, "transB", 0) != 0;
        var (k, n) = transB ? ((int)weight.Dims[1], (int)weight.Dims[0]) : ((int)weight.Dims[0], (int)weight.Dims[1]);
        var alpha = GraphEdits.FloatAttribute(node, "alpha") ?? 1f;
        var beta = GraphEdits.FloatAttribute(node, "beta") ?? 1f;
        float[]? bias = null;
        string? biasInput = null;
        if (node.Input.Count > 2 && node.Input[2].Length > 0 && beta != 0)
        {
            if (rewriter.Constant(node.Input[2]) is { } c && TensorCodec.ElementTypeOf(c) == ElementType.Float)
            {
                var values = TensorCodec.ToSingle(c);
                if (values.Length != n && values.Length != 1)
                {
                    return "the bias C is a matrix, not a vector";
                }

                bias = new float[n];
                for (var i = 0; i < n; i++)
                {
                    bias[i] = beta * values[values.Length == 1 ? 0 : i];
                }

                rewriter.MarkReplaced(node.Input[2]);
            }
            else if (beta == 1)
            {
                biasInput = node.Input[2];
            }
            else
            {
                return "the bias C is not constant and beta is not 1";
            }
        }

        var quantized = rewriter.MatMulWeight(weight, transB, k, n);
        var scale = quantized.Scale;
        if (alpha != 1)
        {
            var scaled = TensorCodec.ToSingle(rewriter.Graph.Initializer(quantized.Scale)!);
            for (var i = 0; i < scaled.Length; i++)
            {
                scaled[i] *= alpha;
            }

            scale = rewriter.AddInitializer(TensorCodec.FromSingle(rewriter.UniqueName(quantized.Scale + "_alpha"), scaled.Length == 1 ? [] : [scaled.Length], scaled, ElementType.Float));
        }

        var output = biasInput is null ? node.Output[0] : rewriter.UniqueName(node.Output[0] + "_unbiased");
        var emitted = rewriter.EmitMatMul(node, node.Input[0], quantized, scale, bias, output);
        if (biasInput is not null)
        {
            emitted = [.. emitted, DynamicRewriter.Node("Add", [output, biasInput], [node.Output[0]], node.Name + "_bias")];
        }

        rewriter.Replace(node, emitted);
        return null;
    }
}
