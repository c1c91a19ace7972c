using Compression.Core.Diagnostics;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Pruning;
using Compression.Core.Pruning.Structured;
using Compression.Core.Tests.Support;
using static Compression.Core.Tests.Passes.GraphBuilder;

namespace Compression.Core.Tests.Pruning.Structured;

/// <summary>
/// The dependency rules on a small CNN built in code (the real models are in the other tests): Conv -> BN -> Relu ->
/// depthwise Conv -> Relu -> Conv; a residual Add that ties two convolutions; Flatten into a Gemm (channel x
/// spatial blocks); and a chain into the graph output that must be left alone.
/// </summary>
public sealed class GroupFinderTests : IDisposable
{
    private readonly string temp = TestAssets.TempDirectory();

    public void Dispose() => Directory.Delete(temp, recursive: true);

    [Fact]
    public void Groups_follow_batch_norm_depthwise_residual_and_flatten_and_stop_at_the_output()
    {
        var plan = StructuredPruner.Plan(Cnn(), Options(coupled: true));

        var inner = Assert.Single(plan.Groups, g => g.Layers.SequenceEqual(["convA"]));
        Assert.Equal(8, inner.Units);
        Assert.Contains("dw_w", inner.Tensors);
        Assert.Contains("bn_scale", inner.Tensors);
        Assert.Equal(["convB"], inner.Consumers);
        var residual = Assert.Single(plan.Groups, g => g.Layers.Count == 2);
        Assert.Equal(["convB", "convC"], residual.Layers.Order());
        Assert.Equal(["gemm"], residual.Consumers);
        Assert.Equal(2, plan.Groups.Count);
        Assert.Contains(plan.Skipped, s => s.Layers.SequenceEqual(["gemm"]) && s.Reason.Contains("graph output", StringComparison.Ordinal));
    }

    [Fact]
    public void Coupled_groups_are_left_alone_unless_asked_for()
    {
        var plan = StructuredPruner.Plan(Cnn(), Options(coupled: false));

        Assert.Equal(["convA"], Assert.Single(plan.Groups).Layers);
        Assert.Contains(plan.Skipped, s => s.Layers.Count == 2 && s.Reason.Contains("coupled: true", StringComparison.Ordinal));
    }

    [Fact]
    public void The_pruned_model_is_smaller_and_runs_in_onnx_runtime_with_the_same_output_shape()
    {
        var model = Cnn();
        var before = ModelFor(model);
        var log = new CollectingLog();
        var result = StructuredTestData.Prune(Cnn(), Options(coupled: true), null, log);

        var shapes = result.Model.Proto.Graph.Initializer.ToDictionary(t => t.Name, t => t.Dims.ToArray());
        Assert.Equal([6L, 4, 3, 3], shapes["convA_w"]);
        Assert.Equal([6L, 1, 3, 3], shapes["dw_w"]);
        Assert.Equal([6L, 6, 1, 1], shapes["convB_w"]);
        Assert.Equal([6L, 4, 1, 1], shapes["convC_w"]);
        Assert.Equal([10L, 6 * 64], shapes["gemm_w"]);
        Assert.Equal(6, result.Model.Proto.Graph.Node.Single(n => n.Name == "dw").Attribute.Single(a => a.Name == "group").I);
        var after = OrtFloatRunner.Run(result.Model, temp, SyntheticInputs.For(model));
        Assert.Equal(before[0].Length, after[0].Length);
        Assert.Contains(log.Diagnostics, d => d.Code == ErrorCodes.PruneReconstructionSkipped);
    }

    private IReadOnlyList<float[]> ModelFor(OnnxModel model) => OrtFloatRunner.Run(model, temp, SyntheticInputs.For(model));

    private static PruneOptions Options(bool coupled) => new()
    {
        Method = PruningMethod.Structured,
        Structured = new StructuredPruneOptions { Channels = 0.25, Coupled = coupled },
    };

    /// <summary>x [1, 4, 8, 8] -> convA(8) -> BN -> Relu -> depthwise(8) -> Relu -> convB(8) + convC(8)(x) -> Relu -> Flatten -> Gemm(10).</summary>
    private static OnnxModel Cnn()
    {
        var random = new Random(5);
        TensorProto Tensor(string name, params long[] dims)
        {
            var values = new float[dims.Aggregate(1L, (a, b) => a * b)];
            for (var i = 0; i < values.Length; i++)
            {
                values[i] = (float)(random.NextDouble() - 0.5);
            }

            return TensorCodec.FromSingle(name, dims, values, ElementType.Float);
        }

        var convA = Node("Conv", ["x", "convA_w"], ["a"], "convA");
        convA.Attribute.Add(Ints("pads", 1, 1, 1, 1));
        var dw = Node("Conv", ["a_relu", "dw_w"], ["d"], "dw");
        dw.Attribute.Add(Int("group", 8));
        dw.Attribute.Add(Ints("pads", 1, 1, 1, 1));
        var gemm = Node("Gemm", ["flat", "gemm_w", "gemm_b"], ["y"], "gemm");
        gemm.Attribute.Add(Int("transB", 1));
        var variance = Tensor("bn_var", 8);
        variance = TensorCodec.FromSingle("bn_var", [8], TensorCodec.ToSingle(variance).Select(v => v + 1).ToArray(), ElementType.Float);
        return Model(
            [
                convA,
                Node("BatchNormalization", ["a", "bn_scale", "bn_bias", "bn_mean", "bn_var"], ["a_bn"], "bn"),
                Node("Relu", ["a_bn"], ["a_relu"], "relu1"),
                dw,
                Node("Relu", ["d"], ["d_relu"], "relu2"),
                Node("Conv", ["d_relu", "convB_w", "convB_b"], ["b"], "convB"),
                Node("Conv", ["x", "convC_w"], ["c"], "convC"),
                Node("Add", ["b", "c"], ["sum"], "add"),
                Node("Relu", ["sum"], ["sum_relu"], "relu3"),
                Node("Flatten", ["sum_relu"], ["flat"], "flatten"),
                gemm,
            ],
            [Value("x", ElementType.Float, 1, 4, 8, 8)],
            [Value("y", ElementType.Float, 1, 10)],
            [
                Tensor("convA_w", 8, 4, 3, 3), Tensor("bn_scale", 8), Tensor("bn_bias", 8), Tensor("bn_mean", 8), variance,
                Tensor("dw_w", 8, 1, 3, 3), Tensor("convB_w", 8, 8, 1, 1), Tensor("convB_b", 8), Tensor("convC_w", 8, 4, 1, 1),
                Tensor("gemm_w", 10, 8 * 64), Tensor("gemm_b", 10),
            ]);
    }
}
