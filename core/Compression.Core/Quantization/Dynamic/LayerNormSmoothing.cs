using System.Numerics.Tensors;
using Compression.Core.Layers;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Passes.Graph;

namespace Compression.Core.Quantization.Dynamic;

/// <summary>
/// Data-free smoothing of the activations a layer norm feeds to MatMuls: a dynamic quantizer has one scale for a
/// whole activation tensor, so a few wide channels (large gamma or beta) cost every other channel its resolution.
/// Each channel j is divided by s_j = sqrt(a_j / w_j) before the MatMuls and the weights' row j multiplied by it,
/// which leaves the product unchanged (SmoothQuant's migration with alpha 0.5). a_j = 3|gamma_j| + |beta_j| bounds
/// the channel of a normalized, unit-variance input; w_j is the row's largest weight over every MatMul reading it.
/// </summary>
internal static class LayerNormSmoothing
{
    /// <summary>Smooths every layer-norm output read by quantized MatMuls; weights it replaces join <paramref name="replaced"/>.</summary>
    public static int Apply(OnnxGraph graph, Func<string, TensorProto?> constant, Func<string, string> fresh, NodeExclusions exclusions, HashSet<string> replaced)
    {
        var smoothed = 0;
        foreach (var add in graph.Proto.Node.ToList())
        {
            if (add.OpType != "Add" || !GraphScopes.IsStandard(add) || add.Input.Count != 2
                || Vector(constant(add.Input[1])) is not { } beta
                || graph.Producer(add.Input[0]) is not { OpType: "Mul" } mul || mul.Input.Count != 2
                || Vector(constant(mul.Input[1])) is not { } gamma || gamma.Length != beta.Length)
            {
                continue;
            }

            var value = add.Output[0];
            var channels = beta.Length;
            var readers = graph.Consumers(value)
                .Where(r => r.OpType == "MatMul" && GraphScopes.IsStandard(r) && !exclusions.Excludes(r) && r.Input[0] == value
                    && constant(r.Input[1]) is { } b && b.DataType == (int)ElementType.Float && b.Dims.Count == 2 && b.Dims[0] == channels)
                .ToList();
            if (readers.Count == 0)
            {
                continue;
            }

            var weights = readers.Select(r => TensorCodec.ToSingle(constant(r.Input[1])!)).ToList();
            var rowMax = new float[channels];
            foreach (var weight in weights)
            {
                var columns = weight.Length / channels;
                for (var j = 0; j < channels; j++)
                {
                    rowMax[j] = MathF.Max(rowMax[j], TensorPrimitives.MaxMagnitude(weight.AsSpan(j * columns, columns)));
                }
            }

            var scale = new float[channels];
            var inverse = new float[channels];
            for (var j = 0; j < channels; j++)
            {
                var activation = 3 * MathF.Abs(gamma[j]) + MathF.Abs(beta[j]);
                scale[j] = activation > 0 && rowMax[j] > 0 ? Math.Clamp(MathF.Sqrt(activation / rowMax[j]), 1e-3f, 1e3f) : 1;
                inverse[j] = 1 / scale[j];
            }

            var inverseName = fresh(value + "_smooth_scale");
            graph.SetInitializer(TensorCodec.FromSingle(inverseName, [channels], inverse, ElementType.Float));
            var input = fresh(value + "_smoothed");
            // One Mul for all readers (Q, K and V share it); the residual branch keeps reading the unsmoothed value.
            graph.AddNode(new NodeProto { OpType = "Mul", Name = input, Input = { value, inverseName }, Output = { input } });
            for (var r = 0; r < readers.Count; r++)
            {
                var weight = weights[r];
                var columns = weight.Length / channels;
                for (var j = 0; j < channels; j++)
                {
                    TensorPrimitives.Multiply(weight.AsSpan(j * columns, columns), scale[j], weight.AsSpan(j * columns, columns));
                }

                var old = readers[r].Input[1];
                var name = fresh(old + "_smoothed");
                graph.SetInitializer(TensorCodec.FromSingle(name, [channels, columns], weight, ElementType.Float));
                readers[r].Input[0] = input;
                readers[r].Input[1] = name;
                replaced.Add(old);
            }

            smoothed++;
        }

        return smoothed;
    }

    private static float[]? Vector(TensorProto? tensor) =>
        tensor is { DataType: (int)ElementType.Float, Dims.Count: 1 } ? TensorCodec.ToSingle(tensor) : null;
}
