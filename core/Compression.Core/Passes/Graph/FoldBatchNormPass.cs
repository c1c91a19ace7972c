using Compression.Core.Onnx;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;

namespace Compression.Core.Passes.Graph;

/// <summary>
/// Folds an inference-mode BatchNormalization into the Conv or Gemm before it: with s = scale / sqrt(var + eps),
/// the weights are scaled by s per output channel and the bias becomes (bias - mean) * s + BN bias. Only when the
/// Conv/Gemm output feeds that BN alone and every parameter is a constant. Weights keep their element type; they are
/// read as float (TensorCodec.ToSingle), scaled in double and rounded once back, so double weights lose precision.
/// </summary>
public sealed class FoldBatchNormPass : Pass<NoOptions>
{
    private const float DefaultEpsilon = 1e-5f;

    public override string Name => "fold_batch_norm";

    public override string Description => "Folds BatchNormalization into the preceding Conv or Gemm weights and bias.";

    protected override PassResult Run(OnnxModel model, NoOptions options, PassContext context)
    {
        var names = GraphScopes.AllValueNames(model);
        var folded = 0;
        foreach (var graph in GraphScopes.InnermostFirst(model))
        {
            foreach (var bn in graph.Proto.Node.ToList())
            {
                context.Cancellation.ThrowIfCancellationRequested();
                if (bn.OpType != "BatchNormalization" || !GraphScopes.IsStandard(bn) || !IsInference(graph, bn))
                {
                    continue;
                }

                if (graph.Producer(bn.Input[0]) is not { } producer || !GraphScopes.IsStandard(producer)
                    || graph.Consumers(bn.Input[0]).Count != 1 || graph.IsGraphOutput(bn.Input[0]))
                {
                    continue;
                }

                if (Fold(graph, bn, producer, names))
                {
                    folded++;
                    context.Log.Verbose($"fold_batch_norm: folded '{bn.Output[0]}' into {producer.OpType} '{producer.Name}'.");
                }
            }
        }

        context.Log.Verbose($"fold_batch_norm: folded {folded} BatchNormalization nodes.");
        return new PassResult(model, new FoldBatchNormResult(folded));
    }

    /// <summary>One output, not training_mode, per-channel statistics (spatial, before opset 9), is_test before opset 7.</summary>
    private static bool IsInference(OnnxGraph graph, NodeProto bn)
    {
        for (var i = 1; i < bn.Output.Count; i++)
        {
            if (bn.Output[i].Length > 0)
            {
                return false;
            }
        }

        var isTest = false;
        foreach (var attribute in bn.Attribute)
        {
            switch (attribute.Name)
            {
                case "training_mode" when attribute.I != 0:
                case "spatial" when attribute.I == 0:
                    return false;
                case "is_test":
                    isTest = attribute.I != 0;
                    break;
            }
        }

        return isTest || graph.OpsetVersion("") is null or >= 7;
    }

    private static bool Fold(OnnxGraph graph, NodeProto bn, NodeProto producer, HashSet<string> names)
    {
        if (bn.Input.Count < 5)
        {
            return false;
        }

        var parameters = new float[4][];
        for (var i = 0; i < 4; i++)
        {
            if (ConstantSources.Find(graph, bn.Input[i + 1]) is not { } tensor || !IsReal(tensor))
            {
                return false;
            }

            parameters[i] = TensorCodec.ToSingle(tensor);
        }

        var (scale, bnBias, mean, variance) = (parameters[0], parameters[1], parameters[2], parameters[3]);
        var channels = scale.Length;
        if (bnBias.Length != channels || mean.Length != channels || variance.Length != channels)
        {
            return false;
        }

        var epsilon = bn.Attribute.FirstOrDefault(a => a.Name == "epsilon")?.F ?? DefaultEpsilon;
        var factor = new double[channels];
        var shift = new double[channels];
        for (var c = 0; c < channels; c++)
        {
            factor[c] = scale[c] / Math.Sqrt((double)variance[c] + epsilon);
            shift[c] = bnBias[c] - mean[c] * factor[c];
        }

        var rewritten = producer.OpType switch
        {
            "Conv" => FoldIntoConv(graph, producer, factor, shift, names),
            "Gemm" => FoldIntoGemm(graph, producer, factor, shift, names),
            _ => false,
        };
        if (!rewritten)
        {
            return false;
        }

        var oldOutput = producer.Output[0];
        graph.RemoveNode(bn);
        producer.Output[0] = bn.Output[0];
        GraphScopes.RemoveValueInfo(graph, oldOutput);
        ConstantSources.RemoveUnread(graph, bn.Input.Skip(1));
        return true;
    }

    private static bool FoldIntoConv(OnnxGraph graph, NodeProto conv, double[] factor, double[] shift, HashSet<string> names)
    {
        var channels = factor.Length;
        if (ConstantSources.Find(graph, conv.Input[1]) is not { } weight || !IsReal(weight) || weight.Dims.Count < 1 || weight.Dims[0] != channels)
        {
            return false;
        }

        var hasBias = conv.Input.Count > 2 && conv.Input[2].Length > 0;
        var bias = hasBias ? ConstantSources.Find(graph, conv.Input[2]) : null;
        if (hasBias && (bias is null || !IsReal(bias) || TensorCodec.ElementCount(bias) != channels))
        {
            return false;
        }

        var weights = TensorCodec.ToSingle(weight);
        var perChannel = weights.Length / channels;
        for (var c = 0; c < channels; c++)
        {
            var block = weights.AsSpan(c * perChannel, perChannel);
            for (var i = 0; i < block.Length; i++)
            {
                block[i] = (float)(block[i] * factor[c]);
            }
        }

        var oldBias = bias is null ? new float[channels] : TensorCodec.ToSingle(bias);
        var newBias = new float[channels];
        for (var c = 0; c < channels; c++)
        {
            newBias[c] = (float)(oldBias[c] * factor[c] + shift[c]);
        }

        var weightType = TensorCodec.ElementTypeOf(weight);
        SetInput(graph, conv, 1, TensorCodec.FromSingle("", weight.Dims.ToArray(), weights, weightType), names);
        SetInput(graph, conv, 2, TensorCodec.FromSingle("", [channels], newBias, bias is null ? weightType : TensorCodec.ElementTypeOf(bias)), names);
        return true;
    }

    /// <summary>Gemm computes alpha * A * B' + beta * C with B' = B or Bᵀ; the BN channel is B′'s column (B's row when transB).</summary>
    private static bool FoldIntoGemm(OnnxGraph graph, NodeProto gemm, double[] factor, double[] shift, HashSet<string> names)
    {
        var channels = factor.Length;
        var transB = gemm.Attribute.FirstOrDefault(a => a.Name == "transB")?.I is 1;
        var beta = gemm.Attribute.FirstOrDefault(a => a.Name == "beta")?.F ?? 1f;
        if (ConstantSources.Find(graph, gemm.Input[1]) is not { } weight || !IsReal(weight) || weight.Dims.Count != 2
            || weight.Dims[transB ? 0 : 1] != channels)
        {
            return false;
        }

        var hasBias = gemm.Input.Count > 2 && gemm.Input[2].Length > 0;
        var bias = hasBias ? ConstantSources.Find(graph, gemm.Input[2]) : null;
        if (hasBias && (bias is null || !IsReal(bias) || !IsPerColumn(bias, channels)))
        {
            return false;
        }

        var weights = TensorCodec.ToSingle(weight);
        var inner = weights.Length / channels;
        for (var k = 0; k < inner; k++)
        {
            for (var c = 0; c < channels; c++)
            {
                var index = transB ? c * inner + k : k * channels + c;
                weights[index] = (float)(weights[index] * factor[c]);
            }
        }

        var oldBias = bias is null ? null : TensorCodec.ToSingle(bias);
        var newBias = new float[channels];
        for (var c = 0; c < channels; c++)
        {
            var old = oldBias is null ? 0 : beta * (double)oldBias[oldBias.Length == 1 ? 0 : c];
            newBias[c] = (float)(old * factor[c] + shift[c]);
        }

        var weightType = TensorCodec.ElementTypeOf(weight);
        SetInput(graph, gemm, 1, TensorCodec.FromSingle("", weight.Dims.ToArray(), weights, weightType), names);
        SetInput(graph, gemm, 2, TensorCodec.FromSingle("", [channels], newBias, bias is null ? weightType : TensorCodec.ElementTypeOf(bias)), names);
        if (gemm.Attribute.FirstOrDefault(a => a.Name == "beta") is { } betaAttribute)
        {
            gemm.Attribute.Remove(betaAttribute); // beta is folded into the new C
        }
        return true;
    }

    /// <summary>A Gemm C that broadcasts along rows only: a scalar, [M] or [1, M].</summary>
    private static bool IsPerColumn(TensorProto bias, int channels)
    {
        var count = TensorCodec.ElementCount(bias);
        return count == 1 || (count == channels && bias.Dims[^1] == channels);
    }

    private static bool IsReal(TensorProto tensor) => TensorCodec.ElementTypeOf(tensor) is ElementType.Float or ElementType.Float16
        or ElementType.Double or ElementType.BFloat16;

    /// <summary>
    /// Gives input <paramref name="index"/> of the node a new value: in place when only this node reads the old
    /// one (same initializer name, or the same Constant node), else as a new initializer under a fresh name.
    /// </summary>
    private static void SetInput(OnnxGraph graph, NodeProto node, int index, TensorProto value, HashSet<string> names)
    {
        var current = index < node.Input.Count ? node.Input[index] : "";
        var exclusive = current.Length > 0 && graph.Consumers(current).Count == 1 && !graph.IsGraphOutput(current)
            && !GraphScopes.IsGraphInput(graph, current);
        if (exclusive && graph.Initializer(current) is not null)
        {
            value.Name = current;
            graph.SetInitializer(value);
            return;
        }

        if (exclusive && graph.Producer(current) is { } constant && ConstantSources.IsConstantNode(constant))
        {
            value.Name = current;
            constant.Attribute.Clear();
            constant.Attribute.Add(new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = value });
            return;
        }

        value.Name = GraphScopes.UniqueName(names, $"{node.Name}_{(index == 1 ? "weight" : "bias")}_folded");
        graph.SetInitializer(value);
        while (node.Input.Count <= index)
        {
            node.Input.Add("");
        }

        node.Input[index] = value.Name;
        ConstantSources.RemoveUnread(graph, [current]);
    }
}

/// <summary>BatchNormalization nodes folded into the Conv or Gemm before them.</summary>
public sealed record FoldBatchNormResult(int Folded) : StepResult;
