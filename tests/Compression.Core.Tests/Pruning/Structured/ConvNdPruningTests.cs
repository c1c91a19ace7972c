using Compression.Core.Data;
using Compression.Core.Diagnostics;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Onnx;
using Compression.Core.Passes;
using Compression.Core.Pruning.Structured;
using Compression.Core.Pruning;
using Compression.Core.Tests.Support;
using Xunit.Abstractions;
using static Compression.Core.Tests.Passes.GraphBuilder;

namespace Compression.Core.Tests.Pruning.Structured;

/// <summary>
/// Structured pruning of 1-D and 3-D convolutions on small chains built in code (Conv -> BatchNormalization -> Relu ->
/// pool -> Conv -> Flatten -> Gemm). The channels that should go are copies of others scaled by a factor: 0 makes
/// them zero (and their consumers' columns small, so L1 picks exactly them), and removing them leaves ONNX Runtime's
/// output unchanged without any data; 0.3 keeps them live but linearly tied to their partners, so only the
/// least-squares refit on calibration patches can put their share back into the kept channels.
/// </summary>
public sealed class ConvNdPruningTests(ITestOutputHelper output) : IDisposable
{
    /// <summary>Channel pairs (copy, partner) of the first and the second Conv of a chain.</summary>
    private static readonly (int Copy, int Partner)[] FirstCopies = [(6, 1), (7, 3)];
    private static readonly (int Copy, int Partner)[] SecondCopies = [(5, 0), (7, 2)];

    private readonly string temp = TestAssets.TempDirectory();

    public void Dispose() => Directory.Delete(temp, recursive: true);

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void A_chain_of_convolutions_loses_its_zero_channels_through_batchnorm_pooling_and_flatten_and_its_output_is_unchanged(int rank)
    {
        var plan = StructuredPruner.Plan(Chain(rank, 0), Options());

        Assert.Equal(["conv1", "conv2"], plan.Groups.Select(g => g.Name));
        Assert.Equal([6, 7], plan.Groups[0].RemovedUnits!);
        Assert.Equal([5, 7], plan.Groups[1].RemovedUnits!);
        Assert.Equal(["conv2"], plan.Groups[0].Consumers);
        Assert.Equal(["gemm"], plan.Groups[1].Consumers);
        Assert.Contains("bn_mean", plan.Groups[0].Tensors);

        var result = StructuredTestData.Prune(Chain(rank, 0), Options(), null, new CollectingLog());

        var shapes = Shapes(result.Model);
        var kernel = Enumerable.Repeat(3L, rank);
        Assert.Equal([6L, 3, .. kernel], shapes["conv1_w"]);
        Assert.Equal([6L], shapes["bn_var"]);
        Assert.Equal([6L, 6, .. kernel], shapes["conv2_w"]);
        Assert.Equal([5L, 6 * Positions(rank)], shapes["gemm_w"]);
        var (expected, actual) = Outputs(Chain(rank, 0), result.Model);
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i]) < 1e-4, $"output {i}: {actual[i]} where the original gives {expected[i]}");
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void A_calibrated_refit_on_the_patches_of_a_chain_puts_the_removed_channels_share_back(int rank)
    {
        var data = DataSourceFactory.Create(new DataSetSpec { Format = DataFormat.Random, Count = 512, Seed = 5 }, temp);
        var magnitude = StructuredTestData.Prune(Chain(rank, 0.3f), Options(), null, new CollectingLog());
        var refit = StructuredTestData.Prune(Chain(rank, 0.3f), Options() with { Calibration = new StepCalibrationSpec { Data = StructuredTestData.Calibration, Samples = 512, BatchSize = 16 } },
            data, new CollectingLog());

        var magnitudeError = RelativeError(Outputs(Chain(rank, 0.3f), magnitude.Model));
        var refitError = RelativeError(Outputs(Chain(rank, 0.3f), refit.Model));
        output.WriteLine($"{rank}-D: relative output error {magnitudeError:F4} magnitude-only, {refitError:F4} refit; {StructuredTestData.Describe(refit)}");
        Assert.Equal([6L, 6, .. Enumerable.Repeat(3L, rank)], Shapes(refit.Model)["conv2_w"]);
        Assert.True(refitError < 0.1, $"refit error {refitError:F4}"); // 0.015 (1-D), 0.042 (3-D): the Gemm's 48 kept features on 512 rows take a strong ridge
        Assert.True(refitError < magnitudeError / 4, $"refit error {refitError:F4}, magnitude-only {magnitudeError:F4}");
    }

    /// <summary>
    /// A Conv2d's [N, C, 1, W] squeezed into a Conv1d's [N, C, W] behind a Pad, the Conv1d pooled globally over its
    /// 3-D output and unsqueezed before a Flatten: each Conv's channels are followed to the next layer.
    /// </summary>
    [Fact]
    public void Squeeze_pad_global_pooling_and_unsqueeze_around_a_conv1d_pass_the_channels()
    {
        var plan = StructuredPruner.Plan(SqueezeModel(), Options());

        var convA = Assert.Single(plan.Groups, g => g.Name == "convA");
        var convB = Assert.Single(plan.Groups, g => g.Name == "convB");
        Assert.Equal([2, 5], convA.RemovedUnits!);
        Assert.Equal(["convB"], convA.Consumers);
        Assert.Equal([1, 4], convB.RemovedUnits!);
        Assert.Equal(["gemm"], convB.Consumers);

        var result = StructuredTestData.Prune(SqueezeModel(), Options(), null, new CollectingLog());

        var shapes = Shapes(result.Model);
        Assert.Equal([6L, 3, 1, 3], shapes["convA_w"]);
        Assert.Equal([6L, 6, 3], shapes["convB_w"]);
        Assert.Equal([4L, 6], shapes["gemm_w"]);
        var (expected, actual) = Outputs(SqueezeModel(), result.Model);
        Assert.True(expected.Zip(actual).All(p => Math.Abs(p.First - p.Second) < 1e-4), "the pruned model's output differs");
    }

    /// <summary>Pooled features of two Conv1d concatenated and flattened into a Gemm: each group's columns are a window at its offset.</summary>
    [Fact]
    public void Pooled_features_concatenated_before_a_flatten_are_pruned_at_their_offsets_in_the_classifier()
    {
        var plan = StructuredPruner.Plan(PooledConcatModel(), Options());

        var a = Assert.Single(plan.Groups, g => g.Name == "convA");
        var b = Assert.Single(plan.Groups, g => g.Name == "convB");
        Assert.Equal([1, 5], a.RemovedUnits!);
        Assert.Equal([3], b.RemovedUnits!);
        Assert.Equal(["gemm"], a.Consumers);

        var result = StructuredTestData.Prune(PooledConcatModel(), Options(), null, new CollectingLog());

        var shapes = Shapes(result.Model);
        Assert.Equal([6L, 3, 3], shapes["convA_w"]);
        Assert.Equal([5L, 3, 3], shapes["convB_w"]);
        Assert.Equal([5L, 22], shapes["gemm_w"]);
        var (expected, actual) = Outputs(PooledConcatModel(), result.Model);
        Assert.True(expected.Zip(actual).All(p => Math.Abs(p.First - p.Second) < 1e-4), "the pruned model's output differs");

        // The refit reads the window's columns out of the classifier's features too.
        var refit = StructuredTestData.Prune(PooledConcatModel(), Options() with { Calibration = new StepCalibrationSpec { Data = StructuredTestData.Calibration, Samples = 256, BatchSize = 16 } },
            DataSourceFactory.Create(new DataSetSpec { Format = DataFormat.Random, Count = 256 }, temp), new CollectingLog());
        Assert.Equal([5L, 22], Shapes(refit.Model)["gemm_w"]);
        Assert.True(RelativeError(Outputs(PooledConcatModel(), refit.Model)) < 0.01, "the refit moved the output");
    }

    /// <summary>A squeeze-excite block on a Conv1d: ReduceMean over the length, and the gate's broadcast Mul ties the expanding Conv to the block's.</summary>
    [Fact]
    public void A_squeeze_excite_block_ties_its_gate_to_the_convolution_through_reducemean_and_a_broadcast_mul()
    {
        var alone = StructuredPruner.Plan(SqueezeExciteModel(), Options());
        Assert.Contains(alone.Skipped, s => s.Layers.Order().SequenceEqual(["conv1", "up"]) && s.Reason.Contains("coupled: true", StringComparison.Ordinal));
        var options = Options() with { Structured = new StructuredPruneOptions { Channels = 0.25, Coupled = true } };
        var plan = StructuredPruner.Plan(SqueezeExciteModel(), options);
        var group = Assert.Single(plan.Groups, g => g.Layers.Contains("conv1"));
        Assert.Equal([2, 5], group.RemovedUnits!);
        Assert.Equal(["conv2", "down"], group.Consumers.Order());

        var result = StructuredTestData.Prune(SqueezeExciteModel(), options, null, new CollectingLog());

        var shapes = Shapes(result.Model);
        Assert.Equal([6L, 3, 3], shapes["conv1_w"]);
        Assert.Equal([6L, 3, 1], shapes["up_w"]);
        Assert.Equal([3L, 6, 1], shapes["down_w"]);
        Assert.Equal([5L, 6, 3], shapes["conv2_w"]);
        var (expected, actual) = Outputs(SqueezeExciteModel(), result.Model);
        Assert.True(expected.Zip(actual).All(p => Math.Abs(p.First - p.Second) < 1e-4), "the pruned model's output differs");
    }

    [Fact]
    public void A_conv_transpose_leaves_the_group_before_it_alone_with_the_reason_in_the_plan_and_a_warning()
    {
        var lines = PrunePass.PlanLayers(TransposeModel(), Options());
        Assert.Contains(lines, l => l.StartsWith("left alone: conv1: ", StringComparison.Ordinal) && l.Contains("transposed convolution", StringComparison.Ordinal));

        var log = new CollectingLog();
        var result = StructuredTestData.Prune(TransposeModel(), Options() with { Calibration = new StepCalibrationSpec { Data = StructuredTestData.Calibration, Samples = 32, BatchSize = 16 } },
            DataSourceFactory.Create(new DataSetSpec { Format = DataFormat.Random, Count = 32 }, temp), log);

        var warning = Assert.Single(log.Diagnostics, d => d.Code == ErrorCodes.PruneOpNotSupported);
        Assert.Equal(DiagnosticSeverity.Warning, warning.Severity);
        Assert.Contains("ConvTranspose", warning.Message, StringComparison.Ordinal);
        Assert.Contains("conv1", warning.Message, StringComparison.Ordinal);
        var shapes = Shapes(result.Model);
        Assert.Equal([8L, 3, 3], shapes["conv1_w"]);
        Assert.Equal([6L, 4, 3], shapes["conv2_w"]);
        Assert.Equal([4L, 6, 1], shapes["conv3_w"]);
    }

    private static PruneOptions Options() => StructuredTestData.Options(new StructuredPruneOptions { Channels = 0.25 }, reconstruct: true) with { Calibration = null };

    /// <summary>Output positions per channel after the second Conv: 16 -> 8 (pool) -> 4 in 1-D; 6³ -> 3³ -> 2³ in 3-D.</summary>
    private static long Positions(int rank) => rank == 1 ? 4 : 8;

    /// <summary>
    /// x [N, 3, 16] (1-D) or [N, 3, 6, 6, 6] (3-D) -> conv1 (8, k3, pads 1) -> BatchNormalization -> Relu -> MaxPool
    /// (1-D) or AveragePool (3-D), k2 s2 -> conv2 (8, k3, stride 2; explicit pads in 1-D, SAME_UPPER in 3-D) -> Relu ->
    /// Flatten -> Gemm (5). Channels 6 and 7 of conv1 and 5 and 7 of conv2 are their partners times <paramref name="scale"/>.
    /// </summary>
    private static OnnxModel Chain(int rank, float scale)
    {
        var random = new Random(21 + rank);
        long[] spatial = rank == 1 ? [16] : [6, 6, 6];
        var kernel = Enumerable.Repeat(3L, rank).ToArray();
        var conv1 = Node("Conv", ["x", "conv1_w", "conv1_b"], ["c1"], "conv1");
        conv1.Attribute.Add(Ints("pads", Enumerable.Repeat(1L, 2 * rank).ToArray()));
        var bn = Node("BatchNormalization", ["c1", "bn_scale", "bn_bias", "bn_mean", "bn_var"], ["n1"], "bn");
        var pool = Node(rank == 1 ? "MaxPool" : "AveragePool", ["r1"], ["p1"], "pool");
        pool.Attribute.Add(Ints("kernel_shape", Enumerable.Repeat(2L, rank).ToArray()));
        pool.Attribute.Add(Ints("strides", Enumerable.Repeat(2L, rank).ToArray()));
        var conv2 = Node("Conv", ["p1", "conv2_w", "conv2_b"], ["c2"], "conv2");
        conv2.Attribute.Add(Ints("strides", Enumerable.Repeat(2L, rank).ToArray()));
        conv2.Attribute.Add(rank == 1 ? Ints("pads", 1, 1) : new AttributeProto { Name = "auto_pad", Type = AttributeProto.Types.AttributeType.String, S = Google.Protobuf.ByteString.CopyFromUtf8("SAME_UPPER") });
        var gemm = Node("Gemm", ["f", "gemm_w", "gemm_b"], ["y"], "gemm");
        gemm.Attribute.Add(Int("transB", 1));
        var consumerScale = scale == 0 ? 0.01f : 1;
        return Model(
            [conv1, bn, Node("Relu", ["n1"], ["r1"], "relu1"), pool, conv2, Node("Relu", ["c2"], ["r2"], "relu2"), Node("Flatten", ["r2"], ["f"], "flatten"), gemm],
            [BatchedValue("x", [3, .. spatial])],
            [BatchedValue("y", [5])],
            [
                Copies(Uniform(random, "conv1_w", [8, 3, .. kernel], -0.5f, 0.5f), 0, FirstCopies, scale),
                Copies(Uniform(random, "conv1_b", [8], -0.2f, 0.2f), 0, FirstCopies, scale),
                Copies(Uniform(random, "bn_scale", [8], 0.5f, 1.5f), 0, FirstCopies, 1),
                Copies(Uniform(random, "bn_bias", [8], -0.2f, 0.2f), 0, FirstCopies, scale),
                Copies(Uniform(random, "bn_mean", [8], -0.1f, 0.1f), 0, FirstCopies, scale),
                Copies(Uniform(random, "bn_var", [8], 0.5f, 1.5f), 0, FirstCopies, 1),
                Copies(Scaled(Uniform(random, "conv2_w", [8, 8, .. kernel], -0.5f, 0.5f), 1, FirstCopies, consumerScale), 0, SecondCopies, scale),
                Copies(Uniform(random, "conv2_b", [8], -0.2f, 0.2f), 0, SecondCopies, scale),
                Scaled(Uniform(random, "gemm_w", [5, 8 * Positions(rank)], -0.5f, 0.5f), 1, SecondCopies, consumerScale, block: (int)Positions(rank)),
                Uniform(random, "gemm_b", [5], -0.2f, 0.2f),
            ]);
    }

    /// <summary>
    /// x [N, 3, 1, 16] -> convA (Conv2d, 8, k 1x3) -> Relu -> Squeeze axis 2 -> Pad 1 on each end of the length ->
    /// convB (Conv1d, 8, k3) -> Relu -> GlobalAveragePool [N, 8, 1] -> Unsqueeze axis 3 -> Flatten -> Gemm (4).
    /// Filters 2 and 5 of convA and 1 and 4 of convB are zero.
    /// </summary>
    private static OnnxModel SqueezeModel()
    {
        var random = new Random(31);
        (int, int)[] zeroA = [(2, 0), (5, 0)], zeroB = [(1, 0), (4, 0)];
        var convA = Node("Conv", ["x", "convA_w", "convA_b"], ["a"], "convA");
        convA.Attribute.Add(Ints("pads", 0, 1, 0, 1));
        var gemm = Node("Gemm", ["f", "gemm_w"], ["y"], "gemm");
        gemm.Attribute.Add(Int("transB", 1));
        return Model(
            [
                convA,
                Node("Relu", ["a"], ["a_relu"], "reluA"),
                Node("Squeeze", ["a_relu", "axis2"], ["rows"], "squeeze"),
                Node("Pad", ["rows", "pads"], ["padded"], "pad"),
                Node("Conv", ["padded", "convB_w", "convB_b"], ["b"], "convB"),
                Node("Relu", ["b"], ["b_relu"], "reluB"),
                Node("GlobalAveragePool", ["b_relu"], ["pooled"], "gap"),
                Node("Unsqueeze", ["pooled", "axis3"], ["pooled4"], "unsqueeze"),
                Node("Flatten", ["pooled4"], ["f"], "flatten"),
                gemm,
            ],
            [BatchedValue("x", [3, 1, 16])],
            [BatchedValue("y", [4])],
            [
                Copies(Uniform(random, "convA_w", [8, 3, 1, 3], -0.5f, 0.5f), 0, zeroA, 0),
                Copies(Uniform(random, "convA_b", [8], -0.2f, 0.2f), 0, zeroA, 0),
                TensorCodec.FromInt64("axis2", [1], [2]),
                TensorCodec.FromInt64("pads", [6], [0, 0, 1, 0, 0, 1]),
                Copies(Scaled(Uniform(random, "convB_w", [8, 8, 3], -0.5f, 0.5f), 1, zeroA, 0.01f), 0, zeroB, 0),
                Copies(Uniform(random, "convB_b", [8], -0.2f, 0.2f), 0, zeroB, 0),
                TensorCodec.FromInt64("axis3", [1], [3]),
                Scaled(Uniform(random, "gemm_w", [4, 8], -0.5f, 0.5f), 1, zeroB, 0.01f),
            ]);
    }

    /// <summary>
    /// x [N, 3, 16] -> convA (8, k3) -> Relu -> AveragePool and convB (6, k3) -> Relu -> MaxPool (k8, s8), concatenated
    /// along the channels ([N, 14, 2]) -> Flatten -> Gemm (5). Filters 1 and 5 of convA and 3 of convB are zero.
    /// </summary>
    private static OnnxModel PooledConcatModel()
    {
        var random = new Random(61);
        (int, int)[] zeroA = [(1, 0), (5, 0)], zeroB = [(3, 0)];
        var convA = Node("Conv", ["x", "convA_w", "convA_b"], ["a"], "convA");
        convA.Attribute.Add(Ints("pads", 1, 1));
        var convB = Node("Conv", ["x", "convB_w"], ["b"], "convB");
        convB.Attribute.Add(Ints("pads", 1, 1));
        var poolA = Node("AveragePool", ["a_relu"], ["a_pool"], "poolA");
        var poolB = Node("MaxPool", ["b_relu"], ["b_pool"], "poolB");
        foreach (var pool in new[] { poolA, poolB })
        {
            pool.Attribute.Add(Ints("kernel_shape", 8));
            pool.Attribute.Add(Ints("strides", 8));
        }

        var concat = Node("Concat", ["a_pool", "b_pool"], ["cat"], "concat");
        concat.Attribute.Add(Int("axis", 1));
        var gemm = Node("Gemm", ["f", "gemm_w", "gemm_b"], ["y"], "gemm");
        gemm.Attribute.Add(Int("transB", 1));
        return Model(
            [
                convA, Node("Relu", ["a"], ["a_relu"], "reluA"), poolA, convB, Node("Relu", ["b"], ["b_relu"], "reluB"), poolB, concat, Node("Flatten", ["cat"], ["f"], "flatten"), gemm,
            ],
            [BatchedValue("x", [3, 16])],
            [BatchedValue("y", [5])],
            [
                Copies(Uniform(random, "convA_w", [8, 3, 3], -0.5f, 0.5f), 0, zeroA, 0),
                Copies(Uniform(random, "convA_b", [8], -0.2f, 0.2f), 0, zeroA, 0),
                Copies(Uniform(random, "convB_w", [6, 3, 3], -0.5f, 0.5f), 0, zeroB, 0),
                Scaled(Scaled(Uniform(random, "gemm_w", [5, 28], -0.5f, 0.5f), 1, zeroA, 0.01f, block: 2), 1, [(8 + 3, 0)], 0.01f, block: 2),
                Uniform(random, "gemm_b", [5], -0.2f, 0.2f),
            ]);
    }

    /// <summary>
    /// x [N, 3, 16] -> conv1 (8, k3) -> Relu -> r; r * Sigmoid(up(Relu(down(ReduceMean(r, length))))) -> conv2 (5, k3) -> y.
    /// Filters 2 and 5 of conv1 are zero, so those channels of the product are zero whatever the gate; down's 3 channels lose none at 25 %.
    /// </summary>
    private static OnnxModel SqueezeExciteModel()
    {
        var random = new Random(51);
        (int, int)[] zero = [(2, 0), (5, 0)];
        var conv1 = Node("Conv", ["x", "conv1_w"], ["c1"], "conv1");
        conv1.Attribute.Add(Ints("pads", 1, 1));
        var mean = Node("ReduceMean", ["r1"], ["s"], "mean");
        mean.Attribute.Add(Ints("axes", 2));
        var conv2 = Node("Conv", ["m", "conv2_w"], ["y"], "conv2");
        conv2.Attribute.Add(Ints("pads", 1, 1));
        return Model(
            [
                conv1, Node("Relu", ["c1"], ["r1"], "relu1"), mean, Node("Conv", ["s", "down_w"], ["d"], "down"), Node("Relu", ["d"], ["rd"], "reluD"),
                Node("Conv", ["rd", "up_w", "up_b"], ["u"], "up"), Node("Sigmoid", ["u"], ["g"], "gate"), Node("Mul", ["r1", "g"], ["m"], "mul"), conv2,
            ],
            [BatchedValue("x", [3, 16])],
            [BatchedValue("y", [5, 16])],
            [
                Copies(Uniform(random, "conv1_w", [8, 3, 3], -0.5f, 0.5f), 0, zero, 0),
                Scaled(Uniform(random, "down_w", [3, 8, 1], -0.5f, 0.5f), 1, zero, 0.01f),
                Scaled(Uniform(random, "up_w", [8, 3, 1], -0.5f, 0.5f), 0, zero, 0.01f),
                Uniform(random, "up_b", [8], -0.2f, 0.2f),
                Scaled(Uniform(random, "conv2_w", [5, 8, 3], -0.5f, 0.5f), 1, zero, 0.01f),
            ],
            opset: 17);
    }

    /// <summary>
    /// x [N, 3, 8] -> conv1 (8, k3) -> Relu -> ConvTranspose1d (8 -> 4, k2, stride 2) -> Relu -> conv2 (8, k3) -> Relu ->
    /// conv3 (4, k1) -> y [N, 4, 16]. Filters 2 and 5 of conv2 are zero.
    /// </summary>
    private static OnnxModel TransposeModel()
    {
        var random = new Random(41);
        (int, int)[] zero = [(2, 0), (5, 0)];
        var conv1 = Node("Conv", ["x", "conv1_w"], ["c1"], "conv1");
        conv1.Attribute.Add(Ints("pads", 1, 1));
        var up = Node("ConvTranspose", ["r1", "up_w"], ["u"], "up");
        up.Attribute.Add(Ints("strides", 2));
        var conv2 = Node("Conv", ["ru", "conv2_w", "conv2_b"], ["c2"], "conv2");
        conv2.Attribute.Add(Ints("pads", 1, 1));
        return Model(
            [
                conv1, Node("Relu", ["c1"], ["r1"], "relu1"), up, Node("Relu", ["u"], ["ru"], "reluU"), conv2, Node("Relu", ["c2"], ["r2"], "relu2"),
                Node("Conv", ["r2", "conv3_w"], ["y"], "conv3"),
            ],
            [BatchedValue("x", [3, 8])],
            [BatchedValue("y", [4, 16])],
            [
                Uniform(random, "conv1_w", [8, 3, 3], -0.5f, 0.5f),
                Uniform(random, "up_w", [8, 4, 2], -0.5f, 0.5f),
                Copies(Uniform(random, "conv2_w", [8, 4, 3], -0.5f, 0.5f), 0, zero, 0),
                Copies(Uniform(random, "conv2_b", [8], -0.2f, 0.2f), 0, zero, 0),
                Scaled(Uniform(random, "conv3_w", [4, 8, 1], -0.5f, 0.5f), 1, zero, 0.01f),
            ]);
    }

    /// <summary>The original's and the pruned model's outputs on the same 8 random samples.</summary>
    private (float[] Expected, float[] Actual) Outputs(OnnxModel original, OnnxModel pruned)
    {
        var input = original.Proto.Graph.Input[0];
        long[] dims = [8, .. input.Type.TensorType.Shape.Dim.Skip(1).Select(d => d.DimValue)];
        var random = new Random(3);
        var values = Enumerable.Range(0, (int)TensorCodec.ElementCount(dims)).Select(_ => random.NextSingle()).ToArray();
        (string, TensorProto)[] inputs = [(input.Name, TensorCodec.FromSingle(input.Name, dims, values, ElementType.Float))];
        var expected = OrtFloatRunner.Run(original, temp, inputs)[0];
        var actual = OrtFloatRunner.Run(pruned, temp, inputs)[0];
        Assert.Equal(expected.Length, actual.Length);
        Assert.True(expected.Max(Math.Abs) > 0.1, "the test model's output is all but zero");
        return (expected, actual);
    }

    private static double RelativeError((float[] Expected, float[] Actual) outputs) =>
        Math.Sqrt(outputs.Expected.Zip(outputs.Actual).Sum(p => Math.Pow(p.First - p.Second, 2)) / outputs.Expected.Sum(v => (double)v * v));

    private static Dictionary<string, long[]> Shapes(OnnxModel model) => model.Proto.Graph.Initializer.ToDictionary(t => t.Name, t => t.Dims.ToArray());

    /// <summary>A float value of shape [N, <paramref name="dims"/>...], N symbolic.</summary>
    private static ValueInfoProto BatchedValue(string name, long[] dims)
    {
        var value = Value(name, ElementType.Float, [1, .. dims]);
        value.Type.TensorType.Shape.Dim[0].ClearDimValue();
        value.Type.TensorType.Shape.Dim[0].DimParam = "N";
        return value;
    }

    private static TensorProto Uniform(Random random, string name, long[] dims, float low, float high) =>
        TensorCodec.FromSingle(name, dims, Enumerable.Range(0, (int)TensorCodec.ElementCount(dims)).Select(_ => low + (high - low) * random.NextSingle()).ToArray(),
            ElementType.Float);

    /// <summary>Along <paramref name="axis"/>, the slab of each copy becomes its partner's times <paramref name="scale"/> (0: zero).</summary>
    private static TensorProto Copies(TensorProto tensor, int axis, (int Copy, int Partner)[] copies, float scale) =>
        Rewrite(tensor, axis, 1, (values, slab, size) =>
        {
            foreach (var (copy, partner) in copies)
            {
                for (var i = 0; i < size; i++)
                {
                    values[slab(copy) + i] = scale * values[slab(partner) + i];
                }
            }
        });

    /// <summary>Along <paramref name="axis"/> (in blocks of <paramref name="block"/> indices per unit), the slabs of the copies times <paramref name="scale"/>.</summary>
    private static TensorProto Scaled(TensorProto tensor, int axis, (int Copy, int Partner)[] copies, float scale, int block = 1) =>
        Rewrite(tensor, axis, block, (values, slab, size) =>
        {
            foreach (var (copy, _) in copies)
            {
                for (var i = 0; i < size; i++)
                {
                    values[slab(copy) + i] *= scale;
                }
            }
        });

    /// <summary>Applies <paramref name="edit"/> once per index of the axes before <paramref name="axis"/>, with where a unit's slab starts and its length.</summary>
    private static TensorProto Rewrite(TensorProto tensor, int axis, int block, Action<float[], Func<int, int>, int> edit)
    {
        var values = TensorCodec.ToSingle(tensor);
        var dims = tensor.Dims.ToArray();
        var outer = (int)dims.Take(axis).Aggregate(1L, (a, b) => a * b);
        var size = (int)dims.Skip(axis + 1).Aggregate(1L, (a, b) => a * b) * block;
        for (var o = 0; o < outer; o++)
        {
            var start = o * (int)dims[axis] * size / block;
            edit(values, unit => start + unit * size, size);
        }

        return TensorCodec.FromSingle(tensor.Name, dims, values, ElementType.Float);
    }
}
