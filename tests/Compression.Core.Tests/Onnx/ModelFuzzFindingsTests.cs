using Compression.Core.Onnx;
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
        var input = Path.Combine(TestAssets.RepoRoot, "tests", "fixtures", "fuzz", "model", "unknown-group.onnx");
        var output = Path.Combine(folder, "out.onnx");
        ModelWriter.Save(ModelLoader.Load(input), output);
        Assert.Equal(10, ModelLoader.Load(output).Proto.IrVersion);
    }
}
