using Compression.Core.Calibration;
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
        var targets = new List<(NodeProto Node, TensorProto Weight, int Axis, HessianInput[] Inputs)>();
        foreach (var node in graph.Nodes)
        {
            if (Target(graph, node) is { } target)
            {
                targets.Add((node, target.Weight, target.Axis, target.Inputs));
            }
        }

        var spec = options.Calibration!;
        var hessians = HessianCollector.Collect(prepared, targets.SelectMany(t => t.Inputs).ToList(),
            new CalibrationWindow(spec.Data, spec.Samples, spec.BatchSize), context.DataSets[spec.Data], "static GPTQ", context.Log, context.Cancellation);
        var result = new Dictionary<string, QuantizedWeight>(StringComparer.Ordinal);
        foreach (var (node, weightTensor, axis, inputs) in targets)
        {
            var weight = TensorCodec.ToSingle(weightTensor);
            var dims = weightTensor.Dims.ToArray();
            var rounded = WeightQuantizer.Quantize(weight, dims, axis, options.PerChannel, options.WeightType, options.Symmetric, options.ReduceRange);
            var rows = (int)dims[axis];
            var rowsPerGroup = rows / inputs.Length;
            for (var g = 0; g < inputs.Length; g++)
            {
                Round(weight, rows, axis, g * rowsPerGroup, rowsPerGroup, hessians[inputs[g].Key].Hessian(), rounded, options.WeightType, options.ReduceRange,
                    context.Cancellation);
            }

            result[node.Name] = rounded;
        }

        context.Log.Verbose($"static GPTQ: {result.Count} weights rounded with Hessians of {hessians.Count} inputs.");
        return result;
    }

    /// <summary>The weight, its channel axis and the inputs read (one per group), of a node GPTQ handles; null for the others.</summary>
    private static (TensorProto Weight, int Axis, HessianInput[] Inputs)? Target(OnnxGraph graph, NodeProto node)
    {
        if (node.Input.Count < 2 || graph.Initializer(node.Input[1]) is not { } weight || TensorCodec.ElementTypeOf(weight) != ElementType.Float)
        {
            return null;
        }

        switch (node.OpType)
        {
            case "Conv" when weight.Dims.Count == 4 && GraphEdits.IntAttribute(node, "group", 1) is var groups and > 0 && weight.Dims[0] % groups == 0:
                var inputs = new HessianInput[groups];
                for (var g = 0; g < groups; g++)
                {
                    var patches = ConvPatches.Of(node, weight.Dims, (int)groups, g);
                    inputs[g] = new HessianInput(node.Input[0], patches.Size, patches);
                }

                return (weight, 0, inputs);
            case "MatMul" when weight.Dims.Count == 2:
                return (weight, 1, [new HessianInput(node.Input[0], (int)weight.Dims[0])]);
            case "Gemm" when weight.Dims.Count == 2 && GraphEdits.IntAttribute(node, "transA", 0) == 0:
                var transB = GraphEdits.IntAttribute(node, "transB", 0) != 0;
                return (weight, transB ? 0 : 1, [new HessianInput(node.Input[0], (int)(transB ? weight.Dims[1] : weight.Dims[0]))]);
            default:
                return null;
        }
    }

    /// <summary>
    /// Rewrites <paramref name="rounded"/>'s integers of rows [<paramref name="firstRow"/>, + <paramref name="count"/>) with
    /// GPTQ on its scales and zero points. Rows are output channels (along <paramref name="axis"/>: 0 for [out, in...],
    /// 1 for a MatMul's [in, out]); features are visited by decreasing Hessian diagonal (act order).
    /// </summary>
    private static void Round(float[] weight, int rows, int axis, int firstRow, int count, double[] hessian, QuantizedWeight rounded, QuantizedType type,
        bool reduceRange, CancellationToken cancellation)
    {
        var length = weight.Length / rows;
        var order = new int[length];
        var keys = new double[length];
        for (var i = 0; i < length; i++)
        {
            order[i] = i;
            keys[i] = -hessian[i * length + i];
        }

        Array.Sort(keys, order);
        // Row-major [count, length] copy: UpperFactor zeroes the features that never fire in it.
        var matrix = new float[count * length];
        for (var r = 0; r < count; r++)
        {
            for (var k = 0; k < length; k++)
            {
                matrix[r * length + k] = weight[Index(firstRow + r, k, rows, length, axis)];
            }
        }

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
                rounded.Values[Index(r, order[i], rows, length, axis)] = code;
                InverseCholesky.Compensate(row, i, row[i] - p.Scale * (code - p.ZeroPoint), upper, length);
            }

            return row;
        }, _ => { });
    }

    private static int Index(int row, int feature, int rows, int length, int axis) => axis == 0 ? row * length + feature : feature * rows + row;
}
