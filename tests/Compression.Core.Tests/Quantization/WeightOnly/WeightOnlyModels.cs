using Compression.Core.Onnx;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Tests.Passes;
using static Compression.Core.Tests.Passes.GraphBuilder;

namespace Compression.Core.Tests.Quantization.WeightOnly;

/// <summary>
/// A small float model with every form the weight-only quantizer rewrites: a MatMul, a Gemm with alpha, beta and a
/// constant C, a Gemm with transB reading a Constant node, a Gemm whose C is computed, and an embedding Gather.
/// K is not a multiple of any block size, so the padding of the last block is exercised.
/// </summary>
internal static class WeightOnlyModels
{
    public const int K = 80;
    public const int N = 24;
    public const int Vocab = 50;
    public const int Hidden = 64;

    public static OnnxModel Mixed(int seed = 3)
    {
        var random = new Random(seed);
        var gemm = Node("Gemm", ["x", "w2", "c2"], ["y2"], "gemm_alpha_beta");
        gemm.Attribute.Add(GraphBuilder.Float("alpha", 0.5f));
        gemm.Attribute.Add(GraphBuilder.Float("beta", 2f));
        var gemmTransposed = Node("Gemm", ["x", "w3"], ["y3"], "gemm_trans_b");
        gemmTransposed.Attribute.Add(Int("transB", 1));
        var gemmComputedBias = Node("Gemm", ["x", "w4", "y1"], ["y4"], "gemm_computed_c");
        var nodes = new[]
        {
            Node("MatMul", ["x", "w1"], ["y1"], "matmul"),
            gemm,
            Constant("w3", Tensor("w3", random, N, K)),
            gemmTransposed,
            gemmComputedBias,
            Node("Gather", ["table", "ids"], ["y5"], "embedding"),
        };
        return Model(nodes,
            [Value("x", ElementType.Float, 2, K), Value("ids", ElementType.Int64, 2, 3)],
            [Value("y1", ElementType.Float, 2, N), Value("y2", ElementType.Float, 2, N), Value("y3", ElementType.Float, 2, N),
             Value("y4", ElementType.Float, 2, N), Value("y5", ElementType.Float, 2, 3, Hidden)],
            [Tensor("w1", random, K, N), Tensor("w2", random, K, N), Tensor("c2", random, N), Tensor("w4", random, K, N),
             Tensor("table", random, Vocab, Hidden)]);
    }

    /// <summary>
    /// Convs of every kind weight-only rewrites, at opset 13 so the quantizer must raise it: a 2-D Conv (8 x 3 x 3 = 72
    /// values per output channel, a block and a bit at block size 64) feeding a depthwise one (9 values), whose result a
    /// ReduceMean (axes an attribute until opset 18) also reads, and a 1-D Conv (12 x 5 values) on a second input.
    /// </summary>
    public static OnnxModel Convs(int seed = 5)
    {
        var random = new Random(seed);
        var conv = Node("Conv", ["x", "w_conv", "b_conv"], ["y_conv"], "conv");
        conv.Attribute.Add(Ints("pads", 1, 1, 1, 1));
        var depthwise = Node("Conv", ["y_conv", "w_depthwise"], ["y_depthwise"], "depthwise");
        depthwise.Attribute.Add(Ints("pads", 1, 1, 1, 1));
        depthwise.Attribute.Add(Int("group", 16));
        var mean = Node("ReduceMean", ["y_depthwise"], ["y_mean"], "mean");
        mean.Attribute.Add(Ints("axes", 2, 3));
        var conv1d = Node("Conv", ["s", "w_conv1d"], ["y_conv1d"], "conv1d");
        conv1d.Attribute.Add(Ints("pads", 2, 2));
        conv1d.Attribute.Add(Ints("strides", 2));
        return Model([conv, depthwise, mean, conv1d],
            [Value("x", ElementType.Float, 2, 8, 10, 10), Value("s", ElementType.Float, 2, 12, 20)],
            [Value("y_depthwise", ElementType.Float, 2, 16, 10, 10), Value("y_mean", ElementType.Float, 2, 16, 1, 1),
             Value("y_conv1d", ElementType.Float, 2, 10, 10)],
            [Tensor("w_conv", random, 16, 8, 3, 3), Tensor("b_conv", random, 16), Tensor("w_depthwise", random, 16, 1, 3, 3), Tensor("w_conv1d", random, 10, 12, 5)],
            opset: 13, irVersion: 7);
    }

    /// <summary>Uniform in [0, 1), like the Random data source GPTQ calibrates on in the tests: images, activations after a ReLU.</summary>
    public static IReadOnlyList<(string Name, TensorProto Tensor)> ConvInputs(int seed = 13)
    {
        var random = new Random(seed);
        TensorProto Uniform(string name, params long[] dims) =>
            TensorCodec.FromSingle(name, dims, Enumerable.Range(0, (int)dims.Aggregate(1L, (a, b) => a * b)).Select(_ => random.NextSingle()).ToArray(), ElementType.Float);
        return [("x", Uniform("x", 2, 8, 10, 10)), ("s", Uniform("s", 2, 12, 20))];
    }

    public static IReadOnlyList<(string Name, TensorProto Tensor)> Inputs(int seed = 11)
    {
        var random = new Random(seed);
        return [("x", Tensor("x", random, 2, K)), ("ids", TensorCodec.FromInt64("ids", [2, 3], [0, 7, 49, 13, 7, 21]))];
    }

    /// <summary>Normal values (Box-Muller), like trained weights: most small, a few large.</summary>
    public static TensorProto Tensor(string name, Random random, params long[] dims)
    {
        var values = new float[dims.Aggregate(1L, (a, b) => a * b)];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));
        }

        return TensorCodec.FromSingle(name, dims, values, ElementType.Float);
    }
}
