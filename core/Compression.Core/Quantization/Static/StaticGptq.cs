using Compression.Core.Calibration;
using Compression.Core.Layers;
using Compression.Core.Numerics;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Passes;
using Compression.Core.Quantization.WeightOnly;

namespace Compression.Core.Quantization.Static;

/// <summary>
/// GPTQ rounding for static mode (<c>algorithm: gptq</c>): the integers of each 2-D Conv, MatMul and Gemm
/// weight are chosen one input feature at a time, each rounding error spread over the features not yet rounded
/// through the inverse Hessian of the layer's input on the calibration data, on the grid round-to-nearest would use
/// (<see cref="WeightQuantizer"/>'s scales and zero points, one per output channel or one per tensor). The result
/// takes the place of <see cref="WeightQuantizer.Quantize"/>'s, so int32 biases and the Conv bias correction apply
/// unchanged. A grouped Conv's output channels see only their group's inputs: one Hessian per group. 1-D and 3-D
/// Convs keep round-to-nearest.
/// </summary>
internal static class StaticGptq
{
    /// <summary>The GPTQ-rounded weights by node name, computed once from the float model (fallback rebuilds reuse them).</summary>
    public static Dictionary<string, QuantizedWeight> Quantize(OnnxModel prepared, QuantizeOptions options, PassContext context)
    {
        var graph = prepared.MainGraph;
        var targets = new List<(LayerWeight Weight, HessianInput[] Inputs)>();
        foreach (var node in graph.Nodes)
        {
            if (Target(graph, node) is { } target)
            {
                targets.Add(target);
            }
        }

        var spec = options.Calibration!;
        var hessians = HessianCollector.Collect(prepared, targets.SelectMany(t => t.Inputs).ToList(),
            new CalibrationWindow(spec.Data, spec.Samples, spec.BatchSize), context.DataSets[spec.Data], "static GPTQ", context.Log, context.Cancellation);
        var result = new Dictionary<string, QuantizedWeight>(StringComparer.Ordinal);
        foreach (var (weight, inputs) in targets)
        {
            var stored = TensorCodec.ToSingle(weight.Tensor);
            var rounded = WeightQuantizer.Quantize(stored, weight.Dims, weight.OutputAxis, options.PerChannel, options.WeightType, options.Symmetric, options.ReduceRange);
            var rows = new float[stored.Length];
            weight.ToRows<float>(stored, rows);
            var codes = new int[stored.Length];
            var rowsPerGroup = weight.Rows / inputs.Length;
            for (var g = 0; g < inputs.Length; g++)
            {
                var matrix = inputs.Length == 1 ? rows : rows.AsSpan(g * rowsPerGroup * weight.RowLength, rowsPerGroup * weight.RowLength).ToArray();
                Round(matrix, weight.RowLength, g * rowsPerGroup, rowsPerGroup, hessians[inputs[g].Key].Hessian(), rounded, codes, options.WeightType,
                    options.ReduceRange, context.Cancellation);
            }

            weight.ToStored<int>(codes, rounded.Values);
            result[weight.Node.Name] = rounded;
        }

        context.Log.Verbose($"static GPTQ: {result.Count} weights rounded with Hessians of {hessians.Count} inputs.");
        return result;
    }

    /// <summary>The weight and the inputs read (one per group) of a node GPTQ handles; null for the others.</summary>
    private static (LayerWeight Weight, HessianInput[] Inputs)? Target(OnnxGraph graph, NodeProto node)
    {
        if (node.Input.Count < 2 || graph.Initializer(node.Input[1]) is not { } tensor || TensorCodec.ElementTypeOf(tensor) != ElementType.Float)
        {
            return null;
        }

        switch (node.OpType)
        {
            case "Conv" when tensor.Dims.Count == 4 && new LayerWeight(node, tensor) is { Groups: > 0 and var groups } conv && conv.Rows % groups == 0:
                return (conv, HessianInput.OfConvGroups(node, tensor.Dims, groups));
            case "MatMul" or "Gemm" when tensor.Dims.Count == 2 && GraphEdits.IntAttribute(node, "transA", 0) == 0:
                var weight = new LayerWeight(node, tensor);
                return (weight, [new HessianInput(node.Input[0], weight.RowLength)]);
            default:
                return null;
        }
    }

    /// <summary>
    /// Writes the integers of the weight's rows [<paramref name="firstRow"/>, + <paramref name="count"/>) (output channels),
    /// given as the [<paramref name="count"/>, <paramref name="length"/>] <paramref name="matrix"/>, to the same rows of
    /// <paramref name="codes"/>: GPTQ on <paramref name="rounded"/>'s scales and zero points, features visited by decreasing
    /// Hessian diagonal (act order). UpperFactor zeroes the features of <paramref name="matrix"/> that never fire.
    /// </summary>
    private static void Round(float[] matrix, int length, int firstRow, int count, double[] hessian, QuantizedWeight rounded, int[] codes, QuantizedType type,
        bool reduceRange, CancellationToken cancellation)
    {
        var order = new int[length];
        var keys = new double[length];
        for (var i = 0; i < length; i++)
        {
            order[i] = i;
            keys[i] = -hessian[i * length + i];
        }

        Array.Sort(keys, order);
        var upper = GptqQuantizer.UpperFactor(GptqQuantizer.Permuted(hessian, length, order), length, matrix, count, order);
        var (qmin, qmax) = QuantMath.Range(type, reduceRange);
        Parallel.For(0, count, new ParallelOptions { CancellationToken = cancellation }, () => new float[length], (local, _, row) =>
        {
            for (var i = 0; i < length; i++)
            {
                row[i] = matrix[local * length + order[i]];
            }

            var r = firstRow + local;

            var channel = rounded.PerChannel ? r : 0;
            var p = new QuantParams(rounded.Scales[channel], rounded.ZeroPoints[channel]);
            for (var i = 0; i < length; i++)
            {
                var code = QuantMath.Quantize(row[i], p, qmin, qmax);
                codes[r * length + order[i]] = code;
                InverseCholesky.Compensate(row, i, row[i] - p.Scale * (code - p.ZeroPoint), upper, length);
            }

            return row;
        }, _ => { });
    }
}
