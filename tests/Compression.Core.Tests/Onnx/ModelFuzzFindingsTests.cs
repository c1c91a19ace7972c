using System.Diagnostics;
using Compression.Core.Diagnostics;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Inspection;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Tests.Support;
using Google.Protobuf;

namespace Compression.Core.Tests.Onnx;

/// <summary>
/// Models the fuzzer (tests/Compression.Fuzz) found to break loading, inspecting or saving with an exception other
/// than a CMP diagnostic. Their minimized inputs are also in tests/fixtures/fuzz/model, which the fuzzers start from.
/// </summary>
public sealed class ModelFuzzFindingsTests : IDisposable
{
    private readonly string folder = TestAssets.TempDirectory();

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void An_unknown_group_field_survives_a_save_byte_for_byte(bool mapped)
    {
        // Protobuf keeps an unknown group (wire types 3 and 4; ONNX never writes one) and serializes it back; the
        // weight splicer's wire walker did not know groups, so saving threw "could not be walked; this is a bug".
        var model = new ModelProto { IrVersion = 10, Graph = new GraphProto { Name = "g" } };
        byte[] group = [0x63, 0x08, 0x01, 0x6B, 0x10, 0x02, 0x6C, 0x64]; // field 12 { field 1 = 1, field 13 { field 2 = 2 } }
        byte[] bytes = [.. model.ToByteArray(), .. group];
        var input = Path.Combine(folder, "in.onnx");
        File.WriteAllBytes(input, bytes);

        var loaded = ModelLoader.Load(input, new LoadOptions { MemoryMapThreshold = mapped ? 0 : long.MaxValue });
        var output = Path.Combine(folder, "out.onnx");
        ModelWriter.Save(loaded, output);

        Assert.Equal(bytes, File.ReadAllBytes(output));
    }

    [Fact]
    public void The_fuzzers_minimized_group_model_saves_and_loads_again()
    {
        var input = Fixture("unknown-group.onnx");
        var output = Path.Combine(folder, "out.onnx");
        ModelWriter.Save(ModelLoader.Load(input), output);
        Assert.Equal(10, ModelLoader.Load(output).Proto.IrVersion);
    }

    [Theory]
    [InlineData(7, "segmented-int64-2e40.onnx")]
    [InlineData(1, null)]
    [InlineData(10, null)]
    public void A_segmented_tensor_is_refused_when_loading_instead_of_decoded_as_if_whole(int dataType, string? fixture)
    {
        // The size check skipped segments, so a segment declaring 2^40 int64 values loaded, and decoding it went on
        // to allocate 8 TB (OverflowException); a float one decoded its few values as the whole tensor.
        var path = fixture is null ? Write("segmented.onnx", Tensor(dataType, segment: true, 1L << 20, 1L << 20)) : Fixture(fixture);
        var watch = Stopwatch.StartNew();
        var error = Assert.Throws<CompressionException>(() => ModelLoader.Load(path));
        Assert.Equal(ErrorCodes.TensorSegmented, error.Code);
        Assert.Equal(ErrorCodes.TensorSegmented, Assert.Throws<CompressionException>(() => ModelInspector.Inspect(path)).Code);
        Assert.InRange(watch.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(5));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(8)]
    [InlineData(22)]
    public void A_tensor_claiming_two_to_the_forty_elements_with_no_data_is_refused_at_once(int dataType)
    {
        var path = Write("huge.onnx", Tensor(dataType, segment: false, 1L << 20, 1L << 20));
        var watch = Stopwatch.StartNew();
        Assert.Equal(ErrorCodes.TensorDataMismatch, Assert.Throws<CompressionException>(() => ModelLoader.Load(path)).Code);
        Assert.Equal(ErrorCodes.TensorDataMismatch, Assert.Throws<CompressionException>(() => ModelInspector.Inspect(path)).Code);
        Assert.InRange(watch.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(5));
    }

    private static ModelProto Tensor(int dataType, bool segment, params long[] dims)
    {
        var tensor = new TensorProto { Name = "w", DataType = dataType, Segment = segment ? new TensorProto.Types.Segment { Begin = 0, End = 1 } : null };
        tensor.Dims.Add(dims);
        var graph = new GraphProto { Name = "g" };
        graph.Initializer.Add(tensor);
        return new ModelProto { IrVersion = 10, Graph = graph };
    }

    private string Write(string name, ModelProto model)
    {
        var path = Path.Combine(folder, name);
        File.WriteAllBytes(path, model.ToByteArray());
        return path;
    }

    private static string Fixture(string name) => Path.Combine(TestAssets.RepoRoot, "tests", "fixtures", "fuzz", "model", name);
}
