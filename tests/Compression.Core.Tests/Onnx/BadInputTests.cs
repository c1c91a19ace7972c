using Compression.Core.Diagnostics;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Inspection;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Tests.Support;
using Google.Protobuf;

namespace Compression.Core.Tests.Onnx;

/// <summary>Each bad model gives one error with a CMP2xxx code and the path, allocates nothing huge, and writes nothing.</summary>
public sealed class BadInputTests : IDisposable
{
    private readonly string folder = TestAssets.TempDirectory();

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void Empty_file() => AssertRefused(Write("empty.onnx", []), ErrorCodes.ModelEmpty, "empty");

    [SkippableFact]
    public void Truncated_model()
    {
        var bytes = File.ReadAllBytes(TestAssets.Require(TestAssets.Mnist, "mnist-8"));
        var path = Write("truncated.onnx", bytes[..(bytes.Length / 2)]);
        AssertRefused(path, ErrorCodes.ModelNotProtobuf, "truncated");

        // The memory-mapped reader falls back to the plain parser, which names the problem the same way.
        var error = Assert.Throws<CompressionException>(() => ModelLoader.Load(path, new LoadOptions { MemoryMapThreshold = 0 }));
        Assert.Equal(ErrorCodes.ModelNotProtobuf, error.Code);
    }

    [SkippableFact]
    public void Png_renamed_to_onnx()
    {
        var png = TestAssets.Require(Path.Combine(TestAssets.SharedAssets, "photos", "astronaut.png"), "a PNG photo");
        AssertRefused(Write("photo.onnx", File.ReadAllBytes(png)), ErrorCodes.ModelNotProtobuf, "PNG image");
    }

    [Fact]
    public void Protobuf_that_is_not_a_model() =>
        AssertRefused(Write("nograph.onnx", new ModelProto { ProducerName = "someone" }.ToByteArray()),
            ErrorCodes.ModelNotOnnx, "neither an IR version nor a graph");

    [Fact]
    public void Missing_external_data_file()
    {
        var model = ModelWithExternal("weights.bin", offset: 0, length: 16);
        AssertRefused(model, ErrorCodes.ExternalDataMissing, "weights.bin");
    }

    [Theory]
    [InlineData("../../etc/passwd", "'..'")]
    [InlineData("/etc/passwd", "absolute")]
    [InlineData("sub/../../outside.bin", "'..'")]
    public void External_data_location_outside_the_model_folder(string location, string reason)
    {
        AssertRefused(ModelWithExternal(location, 0, 16), ErrorCodes.ExternalDataUnsafeLocation, reason);
    }

    [Fact]
    public void External_data_through_a_symlink_out_of_the_folder()
    {
        var outside = TestAssets.TempDirectory();
        try
        {
            File.WriteAllBytes(Path.Combine(outside, "secret.bin"), new byte[16]);
            File.CreateSymbolicLink(Path.Combine(folder, "link"), outside);
            AssertRefused(ModelWithExternal("link/secret.bin", 0, 16), ErrorCodes.ExternalDataUnsafeLocation, "outside the model's folder");
        }
        finally
        {
            Directory.Delete(outside, recursive: true);
        }
    }

    [Fact]
    public void External_data_range_past_the_end_of_the_file()
    {
        File.WriteAllBytes(Path.Combine(folder, "short.bin"), new byte[8]);
        AssertRefused(ModelWithExternal("short.bin", 0, 16), ErrorCodes.ExternalDataOutOfRange, "only 8 bytes");
    }

    [Fact]
    public void Tensor_of_a_trillion_elements_with_no_data()
    {
        var model = NewModel();
        var huge = new TensorProto { Name = "huge", DataType = (int)ElementType.Float };
        huge.Dims.AddRange([1_000_000, 1_000_000]);
        model.Graph.Initializer.Add(huge);
        var path = Write("huge.onnx", model.ToByteArray());

        var before = GC.GetAllocatedBytesForCurrentThread();
        AssertRefused(path, ErrorCodes.TensorDataMismatch, "1000000000000 elements");
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 16 << 20, "Refusing the model must not allocate its declared size.");
    }

    [Fact]
    public void Directory_given_as_the_model() => AssertRefused(folder, ErrorCodes.ModelPathIsDirectory, "directory");

    [Fact]
    public void Missing_model_file() => AssertRefused(Path.Combine(folder, "nope.onnx"), ErrorCodes.ModelNotFound, "does not exist");

    [Fact]
    public void Inspection_reports_the_same_errors()
    {
        var path = Write("empty.onnx", []);
        var error = Assert.Throws<CompressionException>(() => ModelInspector.Inspect(path));
        Assert.Equal(ErrorCodes.ModelEmpty, error.Code);
    }

    private void AssertRefused(string path, string code, string messagePart)
    {
        var before = Listing();
        var error = Assert.Throws<CompressionException>(() => ModelLoader.Load(path));
        var diagnostic = Assert.Single(error.Diagnostics);
        Assert.Equal(code, diagnostic.Code);
        Assert.Equal(DiagnosticSeverity.Error, diagnostic.Severity);
        Assert.Equal(Path.GetFullPath(path), diagnostic.File);
        Assert.Contains(messagePart, diagnostic.Message, StringComparison.Ordinal);
        Assert.Equal(before, Listing());
    }

    private string ModelWithExternal(string location, long offset, long length)
    {
        var model = NewModel();
        var tensor = new TensorProto { Name = "w", DataType = (int)ElementType.Float };
        tensor.Dims.Add(length / 4);
        new ExternalDataInfo(location, offset, length, null).ApplyTo(tensor);
        model.Graph.Initializer.Add(tensor);
        return Write("external.onnx", model.ToByteArray());
    }

    private static ModelProto NewModel()
    {
        var model = new ModelProto { IrVersion = 8, Graph = new GraphProto { Name = "g" } };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        return model;
    }

    private string Write(string name, byte[] bytes)
    {
        var path = Path.Combine(folder, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private string Listing() => string.Join("|", Directory.EnumerateFileSystemEntries(folder, "*", SearchOption.AllDirectories)
        .Order(StringComparer.Ordinal).Select(f => $"{f}:{(File.Exists(f) ? new FileInfo(f).Length : -1)}"));
}
