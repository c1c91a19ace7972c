using Compression.Core.Diagnostics;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Pruning;
using Compression.Core.Pruning.Structured;
using Compression.Core.Tests.Support;
using static Compression.Core.Tests.Passes.GraphBuilder;

namespace Compression.Core.Tests.Pruning.Structured;

/// <summary>
/// Concat and Split along the channels, and grouped convolutions, on small CNNs built in code. The filters of the
/// channels that should go are zero (their outputs are exactly zero after the Relu) and the consumer's columns for
/// them are small, so L1 picks exactly those and removing them leaves ONNX Runtime's output unchanged: a wrong offset
/// or window removes other columns and the outputs differ.
/// </summary>
public sealed class ConcatSplitTests : IDisposable
{
    private readonly string temp = TestAssets.TempDirectory();

    public void Dispose() => Directory.Delete(temp, recursive: true);

    [Fact]
    public void Two_convolutions_concatenated_are_pruned_at_their_offsets_through_a_scale_and_a_depthwise_conv()
    {
        var plan = StructuredPruner.Plan(ConcatModel(channelAxis: true), Options(coupled: false));
        var a = Assert.Single(plan.Groups, g => g.Layers.SequenceEqual(["convA"]));
        var b = Assert.Single(plan.Groups, g => g.Layers.SequenceEqual(["convB"]));
        Assert.Equal([1, 5], a.RemovedUnits!);
        Assert.Equal([3], b.RemovedUnits!);
        Assert.Equal(["convC"], a.Consumers);
        Assert.Contains("dw_w", b.Tensors);
        Assert.Contains("scale", b.Tensors);

        var result = StructuredTestData.Prune(ConcatModel(channelAxis: true), Options(coupled: false), null, new CollectingLog());

        var shapes = Shapes(result.Model);
        Assert.Equal([6L, 4, 3, 3], shapes["convA_w"]);
        Assert.Equal([5L, 4, 1, 1], shapes["convB_w"]);
        Assert.Equal([1L, 11, 1, 1], shapes["scale"]);
        Assert.Equal([11L, 1, 3, 3], shapes["dw_w"]);
        Assert.Equal([5L, 11, 3, 3], shapes["convC_w"]);
        Assert.Equal(11, result.Model.Proto.Graph.Node.Single(n => n.Name == "dw").Attribute.Single(at => at.Name == "group").I);
        AssertSameOutputs(ConcatModel(channelAxis: true), result.Model);
    }

    [Fact]
    public void A_concat_along_the_height_ties_its_inputs_into_one_group_or_is_left_alone_with_the_reason()
    {
        var alone = StructuredPruner.Plan(ConcatModel(channelAxis: false), Options(coupled: false));
        Assert.DoesNotContain(alone.Groups, g => g.Layers.Contains("convA"));
        Assert.Contains(alone.Skipped, s => s.Layers.Order().SequenceEqual(["convA", "convB"]) && s.Reason.Contains("coupled: true", StringComparison.Ordinal));

        var result = StructuredTestData.Prune(ConcatModel(channelAxis: false), Options(coupled: true), null, new CollectingLog());

        var shapes = Shapes(result.Model);
        Assert.Equal([6L, 4, 3, 3], shapes["convA_w"]);
        Assert.Equal([6L, 4, 1, 1], shapes["convB_w"]);
        Assert.Equal([5L, 6, 3, 3], shapes["convC_w"]);
        AssertSameOutputs(ConcatModel(channelAxis: false), result.Model);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_split_along_the_channels_shrinks_each_piece_and_its_size(bool sizesGiven)
    {
        var plan = StructuredPruner.Plan(SplitModel(sizesGiven), Options(coupled: false));
        var group = Assert.Single(plan.Groups, g => g.Layers.SequenceEqual(["convA"]));
        Assert.Equal(["convP", "convQ"], group.Consumers.Order());

        var result = StructuredTestData.Prune(SplitModel(sizesGiven), Options(coupled: false), null, new CollectingLog());

        var shapes = Shapes(result.Model);
        var graph = result.Model.MainGraph;
        var split = result.Model.Proto.Graph.Node.Single(n => n.OpType == "Split");
        var sizes = Core.Onnx.Graphs.ConstantSources.Find(graph, split.Input[1])!;
        if (sizesGiven)
        {
            // Pieces of 3 and 5: a quarter of 8 is 2, a share of each rounded down (0 and 1).
            Assert.Equal([7L, 4, 3, 3], shapes["convA_w"]);
            Assert.Equal([3L, 4], TensorCodec.ToInt64(sizes));
            Assert.Equal([4L, 3, 1, 1], shapes["convP_w"]);
            Assert.Equal([4L, 4, 1, 1], shapes["convQ_w"]);
        }
        else
        {
            Assert.Equal([6L, 4, 3, 3], shapes["convA_w"]);
            Assert.Equal([3L, 3], TensorCodec.ToInt64(sizes));
            Assert.DoesNotContain(split.Attribute, at => at.Name == "num_outputs");
        }

        AssertSameOutputs(SplitModel(sizesGiven), result.Model);
    }

    [Fact]
    public void A_grouped_convolution_loses_as_many_output_channels_in_each_conv_group_and_its_input_channels_are_left_alone()
    {
        var plan = StructuredPruner.Plan(GroupedModel(), Options(coupled: false));
        Assert.Contains(plan.Skipped, s => s.Layers.SequenceEqual(["convA"]) && s.Reason.Contains("grouped convolution (2 groups)", StringComparison.Ordinal));
        var group = Assert.Single(plan.Groups);
        Assert.Equal(["grouped"], group.Layers);
        Assert.Equal([2, 5], group.RemovedUnits!); // one of each conv group of 4, not the two weakest overall

        var result = StructuredTestData.Prune(GroupedModel(), Options(coupled: false), null, new CollectingLog());

        var shapes = Shapes(result.Model);
        Assert.Equal([6L, 4, 3, 3], shapes["grouped_w"]);
        Assert.Equal([6L, 6, 1, 1], shapes["convB_w"]);
        Assert.Equal(2, result.Model.Proto.Graph.Node.Single(n => n.Name == "grouped").Attribute.Single(at => at.Name == "group").I);
        AssertSameOutputs(GroupedModel(), result.Model);
    }

    /// <summary>Concats whose map cannot be made: the group's channels enter twice, or the other input's channel count is not known.</summary>
    [Theory]
    [InlineData("twice", "reached through two of its inputs")]
    [InlineData("unknown", "channel count of its input 'z' is not known")]
    public void A_concat_that_cannot_be_mapped_leaves_the_group_alone_with_the_reason(string other, string reason)
    {
        var convA = Node("Conv", ["x", "convA_w"], ["a"], "convA");
        var concat = Node("Concat", ["a_relu", other == "twice" ? "a_sig" : "z"], ["cat"], "concat");
        concat.Attribute.Add(Int("axis", 1));
        var z = Value("z", ElementType.Float, 1, 0, 8, 8);
        z.Type.TensorType.Shape.Dim[1].ClearDimValue();
        z.Type.TensorType.Shape.Dim[1].DimParam = "channels";
        var random = new Random(14);
        var model = Model(
            [
                convA,
                Node("Relu", ["a"], ["a_relu"], "relu"),
                Node("Sigmoid", ["a"], ["a_sig"], "sigmoid"),
                concat,
                Node("Conv", ["cat", "convC_w"], ["y"], "convC"),
            ],
            other == "twice" ? [Value("x", ElementType.Float, 1, 4, 8, 8)] : [Value("x", ElementType.Float, 1, 4, 8, 8), z],
            [Value("y", ElementType.Float, 1, 5, 8, 8)],
            [Filters(random, "convA_w", [8, 4, 1, 1], 0, []), Filters(random, "convC_w", [5, other == "twice" ? 16 : 12, 1, 1], 0, [])]);

        var plan = StructuredPruner.Plan(model, Options(coupled: true));

        Assert.DoesNotContain(plan.Groups, g => g.Layers.Contains("convA"));
        Assert.Contains(plan.Skipped, s => s.Layers.SequenceEqual(["convA"]) && s.Reason.Contains(reason, StringComparison.Ordinal));
    }

    private void AssertSameOutputs(OnnxModel original, OnnxModel pruned)
    {
        var inputs = SyntheticInputs.For(original);
        var expected = OrtFloatRunner.Run(original, temp, inputs);
        var actual = OrtFloatRunner.Run(pruned, temp, inputs);
        Assert.Equal(expected[0].Length, actual[0].Length);
        Assert.True(expected[0].Max(Math.Abs) > 0.1, "the test model's output is all but zero");
        for (var i = 0; i < expected[0].Length; i++)
        {
            Assert.True(Math.Abs(expected[0][i] - actual[0][i]) < 1e-4, $"output {i}: {actual[0][i]} where the original gives {expected[0][i]}");
        }
    }

    private static Dictionary<string, long[]> Shapes(OnnxModel model) => model.Proto.Graph.Initializer.ToDictionary(t => t.Name, t => t.Dims.ToArray());

    private static PruneOptions Options(bool coupled) => new()
    {
        Method = PruningMethod.Structured,
        Structured = new StructuredPruneOptions { Channels = 0.25, Coupled = coupled },
    };

    /// <summary>
    /// x [1, 4, 8, 8] -> convA (8, 3x3) -> Relu and convB (6, 1x1) -> Relu, concatenated along the channels (14) or the
    /// height (8 channels each: convB then has 8), -> Mul by a per-channel scale -> depthwise 3x3 -> convC (5, 3x3).
    /// Filters 1 and 5 of convA and 3 of convB are zero.
    /// </summary>
    private static OnnxModel ConcatModel(bool channelAxis)
    {
        var random = new Random(11);
        var bChannels = channelAxis ? 6 : 8;
        var total = channelAxis ? 8 + bChannels : 8;
        var zeroA = new[] { 1, 5 };
        var zeroB = channelAxis ? new[] { 3 } : zeroA;
        var zeroC = channelAxis ? zeroA.Concat(zeroB.Select(c => c + 8)).ToArray() : zeroA;
        var convA = Node("Conv", ["x", "convA_w", "convA_b"], ["a"], "convA");
        convA.Attribute.Add(Ints("pads", 1, 1, 1, 1));
        var concat = Node("Concat", ["a_relu", "b_relu"], ["cat"], "concat");
        concat.Attribute.Add(Int("axis", channelAxis ? 1 : 2));
        var dw = Node("Conv", ["scaled", "dw_w"], ["d"], "dw");
        dw.Attribute.Add(Int("group", total));
        dw.Attribute.Add(Ints("pads", 1, 1, 1, 1));
        var convC = Node("Conv", ["d", "convC_w", "convC_b"], ["y"], "convC");
        convC.Attribute.Add(Ints("pads", 1, 1, 1, 1));
        return Model(
            [
                convA,
                Node("Relu", ["a"], ["a_relu"], "reluA"),
                Node("Conv", ["x", "convB_w", "convB_b"], ["b"], "convB"),
                Node("Relu", ["b"], ["b_relu"], "reluB"),
                concat,
                Node("Mul", ["cat", "scale"], ["scaled"], "mul"),
                dw,
                convC,
            ],
            [Value("x", ElementType.Float, 1, 4, 8, 8)],
            [Value("y", ElementType.Float, 1, 5, channelAxis ? 8 : 16, 8)],
            [
                Filters(random, "convA_w", [8, 4, 3, 3], 0, zeroA), Filters(random, "convA_b", [8], 0, zeroA),
                Filters(random, "convB_w", [bChannels, 4, 1, 1], 0, zeroB), Filters(random, "convB_b", [bChannels], 0, zeroB),
                Positive(random, "scale", [1, total, 1, 1]), Filters(random, "dw_w", [total, 1, 3, 3], 0, []),
                Filters(random, "convC_w", [5, total, 3, 3], 1, zeroC, small: true), Filters(random, "convC_b", [5], 0, []),
            ]);
    }

    /// <summary>x [1, 4, 8, 8] -> convA (8, 3x3) -> Relu -> Split [3, 5] (or two equal parts, opset 18) -> convP (4) and convQ (4) -> Add -> y. Filters 1 and 6 of convA are zero.</summary>
    private static OnnxModel SplitModel(bool sizesGiven)
    {
        var random = new Random(12);
        var zero = new[] { 1, 6 };
        var (p, q) = sizesGiven ? (3, 5) : (4, 4);
        var convA = Node("Conv", ["x", "convA_w", "convA_b"], ["a"], "convA");
        convA.Attribute.Add(Ints("pads", 1, 1, 1, 1));
        var split = Node("Split", sizesGiven ? ["a_relu", "sizes"] : ["a_relu"], ["p", "q"], "split");
        split.Attribute.Add(Int("axis", 1));
        if (!sizesGiven)
        {
            split.Attribute.Add(Int("num_outputs", 2));
        }

        var initializers = new List<TensorProto>
        {
            Filters(random, "convA_w", [8, 4, 3, 3], 0, zero), Filters(random, "convA_b", [8], 0, zero),
            Filters(random, "convP_w", [4, p, 1, 1], 1, zero.Where(c => c < p).ToArray(), small: true),
            Filters(random, "convQ_w", [4, q, 1, 1], 1, zero.Where(c => c >= p).Select(c => c - p).ToArray(), small: true),
        };
        if (sizesGiven)
        {
            initializers.Add(TensorCodec.FromInt64("sizes", [2], [p, q]));
        }

        return Model(
            [
                convA,
                Node("Relu", ["a"], ["a_relu"], "reluA"),
                split,
                Node("Conv", ["p", "convP_w"], ["p_out"], "convP"),
                Node("Conv", ["q", "convQ_w"], ["q_out"], "convQ"),
                Node("Add", ["p_out", "q_out"], ["y"], "add"),
            ],
            [Value("x", ElementType.Float, 1, 4, 8, 8)],
            [Value("y", ElementType.Float, 1, 4, 8, 8)],
            initializers,
            opset: 18);
    }

    /// <summary>x [1, 4, 8, 8] -> convA (8) -> Relu -> grouped 3x3 (2 groups, 8 -> 8) -> Relu -> convB (6, 1x1) -> y. Filters 2 and 5 of the grouped conv are zero.</summary>
    private static OnnxModel GroupedModel()
    {
        var random = new Random(13);
        var zero = new[] { 2, 5 };
        var convA = Node("Conv", ["x", "convA_w"], ["a"], "convA");
        var grouped = Node("Conv", ["a_relu", "grouped_w", "grouped_b"], ["g"], "grouped");
        grouped.Attribute.Add(Int("group", 2));
        grouped.Attribute.Add(Ints("pads", 1, 1, 1, 1));
        return Model(
            [
                convA,
                Node("Relu", ["a"], ["a_relu"], "reluA"),
                grouped,
                Node("Relu", ["g"], ["g_relu"], "reluG"),
                Node("Conv", ["g_relu", "convB_w"], ["y"], "convB"),
            ],
            [Value("x", ElementType.Float, 1, 4, 8, 8)],
            [Value("y", ElementType.Float, 1, 6, 8, 8)],
            [
                Filters(random, "convA_w", [8, 4, 1, 1], 0, []),
                Filters(random, "grouped_w", [8, 4, 3, 3], 0, zero), Filters(random, "grouped_b", [8], 0, zero),
                Filters(random, "convB_w", [6, 8, 1, 1], 1, zero, small: true),
            ]);
    }

    /// <summary>Random values in [-0.5, 0.5); along <paramref name="axis"/> the indices <paramref name="zero"/> are zero (or, <paramref name="small"/>, scaled by 0.01).</summary>
    private static TensorProto Filters(Random random, string name, long[] dims, int axis, int[] zero, bool small = false)
    {
        var values = new float[dims.Aggregate(1L, (x, y) => x * y)];
        var inner = dims.Skip(axis + 1).Aggregate(1L, (x, y) => x * y);
        for (var i = 0; i < values.Length; i++)
        {
            var index = (int)(i / inner % dims[axis]);
            var value = (float)(random.NextDouble() - 0.5);
            values[i] = zero.Contains(index) ? (small ? value * 0.01f : 0) : value;
        }

        return TensorCodec.FromSingle(name, dims, values, ElementType.Float);
    }

    private static TensorProto Positive(Random random, string name, long[] dims) =>
        TensorCodec.FromSingle(name, dims, Enumerable.Range(0, (int)dims.Aggregate(1L, (x, y) => x * y)).Select(_ => (float)(0.5 + random.NextDouble())).ToArray(), ElementType.Float);
}
