using Compression.Core.Calibration;
using Compression.Core.Evaluation;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Quantization.WeightOnly;
using Compression.Core.Tests.Support;
using static Compression.Core.Tests.Passes.GraphBuilder;

namespace Compression.Core.Tests.Quantization.WeightOnly;

/// <summary>
/// The patches are what a Conv multiplies its weight with: each row times the filters of the conv group gives ONNX
/// Runtime's output at that position, for 1-, 2- and 3-D Convs with padding, SAME padding (which ONNX Runtime does not take with dilations), strides, dilations and groups.
/// </summary>
public sealed class ConvPatchesTests : IDisposable
{
    private readonly string temp = TestAssets.TempDirectory();

    public void Dispose() => Directory.Delete(temp, recursive: true);

    [Theory]
    [InlineData(new long[] { 11 }, new long[] { 3 }, "pads=1,2", 1)]
    [InlineData(new long[] { 9, 7 }, new long[] { 3, 2 }, "auto_pad=SAME_LOWER;strides=2,1", 1)]
    [InlineData(new long[] { 9, 7 }, new long[] { 3, 2 }, "pads=2,0,1,1;strides=2,1;dilations=2,1", 1)]
    [InlineData(new long[] { 8, 8 }, new long[] { 3, 3 }, "pads=1,1,1,1", 2)]
    [InlineData(new long[] { 5, 6, 7 }, new long[] { 2, 3, 3 }, "auto_pad=VALID;strides=1,2,1", 1)]
    [InlineData(new long[] { 4, 5, 6 }, new long[] { 3, 3, 1 }, "auto_pad=SAME_UPPER;strides=2,2,2", 1)]
    public void Each_row_times_the_filters_is_the_convolution_at_that_position(long[] spatial, long[] kernel, string attributes, int groups)
    {
        const int batch = 2, inChannels = 4, outChannels = 6;
        var random = new Random(spatial.Length * 10 + groups);
        long[] weightDims = [outChannels, inChannels / groups, .. kernel];
        var weight = Enumerable.Range(0, (int)TensorCodec.ElementCount(weightDims)).Select(_ => random.NextSingle() - 0.5f).ToArray();
        long[] inputDims = [batch, inChannels, .. spatial];
        var input = Enumerable.Range(0, (int)TensorCodec.ElementCount(inputDims)).Select(_ => random.NextSingle()).ToArray();
        var conv = Node("Conv", ["x", "w"], ["y"], "conv");
        conv.Attribute.Add(Int("group", groups));
        foreach (var (name, value) in attributes.Split(';').Select(a => a.Split('=')).Select(a => (a[0], a[1])))
        {
            conv.Attribute.Add(name == "auto_pad"
                ? new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.String, S = Google.Protobuf.ByteString.CopyFromUtf8(value) }
                : Ints(name, value.Split(',').Select(long.Parse).ToArray()));
        }

        var model = Model([conv], [Value("x", ElementType.Float, inputDims)], [Value("y", ElementType.Float)], [TensorCodec.FromSingle("w", weightDims, weight, ElementType.Float)]);
        var expected = OrtFloatRunner.Run(model, temp, [("x", TensorCodec.FromSingle("x", inputDims, input, ElementType.Float))])[0];
        var activation = new OutputValue("x", inputDims, input);
        var perGroup = outChannels / groups;
        for (var g = 0; g < groups; g++)
        {
            var patches = ConvPatches.Of(conv, weightDims, groups, g);
            Assert.True(patches.Fits(inputDims));
            var positions = patches.Positions(inputDims);
            Assert.Equal(expected.Length, batch * outChannels * positions);
            var rows = new float[positions * patches.Size];
            for (var n = 0; n < batch; n++)
            {
                rows.AsSpan().Fill(float.NaN); // every value must be written, padding as 0
                patches.Extract(activation, n, rows);
                for (var o = g * perGroup; o < (g + 1) * perGroup; o++)
                {
                    var filter = weight.AsSpan(o * patches.Size, patches.Size);
                    for (var p = 0; p < positions; p++)
                    {
                        var value = System.Numerics.Tensors.TensorPrimitives.Dot(rows.AsSpan(p * patches.Size, patches.Size), filter);
                        var reference = expected[(n * outChannels + o) * positions + p];
                        Assert.True(Math.Abs(value - reference) < 1e-4, $"image {n}, output channel {o}, position {p}: {value} where ONNX Runtime gives {reference}");
                    }
                }
            }
        }
    }
}
