using Compression.Core.Diagnostics;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Tests.Support;

namespace Compression.Core.Tests.Onnx;

public sealed class ModelWriterTests : IDisposable
{
    private readonly string folder = TestAssets.TempDirectory();

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [SkippableFact]
    public void Never_overwrites_the_input_unless_asked()
    {
        var source = Path.Combine(folder, "model.onnx");
        File.Copy(TestAssets.Require(TestAssets.Mnist, "mnist-8"), source);
        var bytes = File.ReadAllBytes(source);
        var model = ModelLoader.Load(source);
        model.Proto.DocString = "changed";

        var error = Assert.Throws<CompressionException>(() => ModelWriter.Save(model, source, new SaveOptions { Overwrite = true }));
        Assert.Equal(ErrorCodes.OutputIsInput, error.Code);
        Assert.Equal(bytes, File.ReadAllBytes(source));

        // Through a symbolic link to the folder it is still the input.
        Directory.CreateSymbolicLink(Path.Combine(folder, "alias"), folder);
        error = Assert.Throws<CompressionException>(() => ModelWriter.Save(model, Path.Combine(folder, "alias", "model.onnx"), new SaveOptions { Overwrite = true }));
        Assert.Equal(ErrorCodes.OutputIsInput, error.Code);

        ModelWriter.Save(model, source, new SaveOptions { OverwriteInput = true });
        Assert.Equal("changed", ModelLoader.Load(source).Proto.DocString);
        Assert.Single(Directory.EnumerateFiles(folder));
    }

    [Fact]
    public void Existing_output_needs_overwrite()
    {
        var target = Path.Combine(folder, "out.onnx");
        File.WriteAllText(target, "keep me");
        var error = Assert.Throws<CompressionException>(() => ModelWriter.Save(TinyModel(), target));
        Assert.Equal(ErrorCodes.OutputExists, error.Code);
        Assert.Equal("keep me", File.ReadAllText(target));

        ModelWriter.Save(TinyModel(), target, new SaveOptions { Overwrite = true });
        Assert.Equal(TinyModel().Proto, ModelLoader.Load(target).Proto);
    }

    [Fact]
    public void A_failed_save_leaves_no_temp_file_and_the_old_output_intact()
    {
        var target = Path.Combine(folder, "out.onnx");
        File.WriteAllText(target, "previous");
        var model = TinyModel();
        // A data file name that is a directory makes the external write fail half-way.
        Directory.CreateDirectory(Path.Combine(folder, "out.onnx.data"));
        Assert.Throws<CompressionException>(() => ModelWriter.Save(model, target, new SaveOptions { Overwrite = true, ExternalData = ExternalDataMode.Always, ExternalDataThreshold = 0 }));
        Assert.Equal("previous", File.ReadAllText(target));
        Assert.DoesNotContain(Directory.EnumerateFiles(folder), f => f.EndsWith(".tmp", StringComparison.Ordinal));
    }

    [Fact]
    public void Same_model_saves_to_identical_bytes()
    {
        var a = Path.Combine(folder, "a.onnx");
        var b = Path.Combine(folder, "b.onnx");
        ModelWriter.Save(TinyModel(), a, new SaveOptions { ExternalData = ExternalDataMode.Always, ExternalDataThreshold = 0, ExternalDataFileName = "a.data" });
        ModelWriter.Save(TinyModel(), b, new SaveOptions { ExternalData = ExternalDataMode.Always, ExternalDataThreshold = 0, ExternalDataFileName = "a.data", Overwrite = true });
        Assert.Equal(File.ReadAllBytes(a), File.ReadAllBytes(b));
    }

    [Fact]
    public void Automatic_external_data_when_the_model_passes_the_limit()
    {
        var target = Path.Combine(folder, "auto.onnx");
        var written = ModelWriter.Save(TinyModel(), target, new SaveOptions { AutoExternalDataLimit = 16, ExternalDataThreshold = 16 });
        Assert.Equal(2, written.Count);
        var reloaded = ModelLoader.Load(target);
        Assert.Equal(["auto.onnx.data"], reloaded.ExternalDataFiles);
        Assert.Equal(TinyModel().Proto, reloaded.Proto);

        var small = Path.Combine(folder, "small.onnx");
        Assert.Single(ModelWriter.Save(TinyModel(), small));
    }

    [Fact]
    public void Large_tensors_are_page_aligned_in_the_data_file()
    {
        var model = TinyModel();
        model.Proto.Graph.Initializer.Add(TensorCodec.FromSingle("big", [300_000], new float[300_000], ElementType.Float));
        var target = Path.Combine(folder, "aligned.onnx");
        ModelWriter.Save(model, target, new SaveOptions { ExternalData = ExternalDataMode.Always, ExternalDataThreshold = 4 });
        var stored = ModelLoader.Load(target, LoadOptions.MetadataOnly).Proto.Graph.Initializer.Single(t => t.Name == "big");
        Assert.Equal(0, ExternalDataInfo.Parse(stored).Offset % 4096);
        Assert.True(ExternalDataInfo.Parse(stored).Offset > 0);
    }

    internal static OnnxModel TinyModel()
    {
        var graph = new GraphProto { Name = "tiny" };
        graph.Initializer.Add(TensorCodec.FromSingle("w", [4, 4], Enumerable.Range(0, 16).Select(i => i * 0.5f).ToArray(), ElementType.Float));
        graph.Input.Add(new ValueInfoProto { Name = "x", Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1 } } });
        graph.Output.Add(new ValueInfoProto { Name = "y", Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1 } } });
        var node = new NodeProto { OpType = "MatMul", Name = "mm" };
        node.Input.AddRange(["x", "w"]);
        node.Output.Add("y");
        graph.Node.Add(node);
        var proto = new ModelProto { IrVersion = 8, ProducerName = "tests", Graph = graph };
        proto.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        return new OnnxModel(proto);
    }
}
