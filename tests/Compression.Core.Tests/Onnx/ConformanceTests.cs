using Compression.Core.Onnx;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Tests.Support;
using Xunit.Abstractions;

namespace Compression.Core.Tests.Onnx;

/// <summary>
/// Every model of Debian's libonnx-testdata loads, saves and reloads equal field by field; where ONNX Runtime runs
/// the original deterministically, the re-saved model gives the same outputs bit for bit on the test's inputs.
/// </summary>
public sealed class ConformanceTests(ITestOutputHelper output)
{
    public static TheoryData<string> Models()
    {
        var data = new TheoryData<string>();
        if (!Directory.Exists(TestAssets.OnnxTestData))
        {
            data.Add("(libonnx-testdata not installed)");
            return data;
        }

        foreach (var path in Directory.EnumerateFiles(TestAssets.OnnxTestData, "model.onnx", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetRelativePath(TestAssets.OnnxTestData, Path.GetDirectoryName(path)!));
        }

        return data;
    }

    [SkippableFact]
    public void The_whole_libonnx_testdata_set_is_present()
    {
        TestAssets.RequireDirectory(TestAssets.OnnxTestData, "Debian's libonnx-testdata");
        var count = Directory.EnumerateFiles(TestAssets.OnnxTestData, "model.onnx", SearchOption.AllDirectories).Count();
        Assert.Equal(1072, count);
    }

    [SkippableTheory]
    [MemberData(nameof(Models))]
    public void Model_round_trips_and_runs_identically(string test)
    {
        var folder = TestAssets.RequireDirectory(Path.Combine(TestAssets.OnnxTestData, test), "Debian's libonnx-testdata");
        var source = Path.Combine(folder, "model.onnx");
        var original = ModelLoader.Load(source);
        var bytes = File.ReadAllBytes(source);
        ModelAssert.Equal(
            ModelLoader.Load(source, new LoadOptions { MemoryMapThreshold = long.MaxValue }).Proto,
            ModelLoader.Load(source, new LoadOptions { MemoryMapThreshold = 0 }).Proto);

        var temp = TestAssets.TempDirectory();
        try
        {
            var reloaded = ModelAssert.SaveAndReload(original, temp);
            ModelAssert.Equal(ModelLoader.Load(source).Proto, reloaded.Proto);
            var savedPath = Path.Combine(temp, "roundtrip.onnx");
            // Every model of the set was written by ONNX's own serializer; ours writes the very same bytes.
            Assert.True(File.ReadAllBytes(savedPath).AsSpan().SequenceEqual(bytes), "The re-saved model's bytes differ from the original's.");

            var errors = GraphChecker.Check(original).Where(d => d.Severity == Core.Diagnostics.DiagnosticSeverity.Error).ToList();
            Assert.True(errors.Count == 0, string.Join(Environment.NewLine, errors));

            CompareRuns(original, folder, source, savedPath);
        }
        finally
        {
            Directory.Delete(temp, recursive: true);
        }
    }

    private void CompareRuns(OnnxModel model, string folder, string source, string saved)
    {
        var dataSet = Path.Combine(folder, "test_data_set_0");
        var graph = model.Proto.Graph;
        var initializers = graph.Initializer.Select(t => t.Name).ToHashSet();
        var inputs = graph.Input.Where(i => !initializers.Contains(i.Name)).ToList();
        if (!Directory.Exists(dataSet) || inputs.Any(i => i.Type?.ValueCase != TypeProto.ValueOneofCase.TensorType))
        {
            output.WriteLine("not run: no tensor test data");
            return;
        }

        var feeds = new List<(string, TensorProto)>();
        for (var k = 0; File.Exists(Path.Combine(dataSet, $"input_{k}.pb")) && k < inputs.Count; k++)
        {
            feeds.Add((inputs[k].Name, TensorProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(dataSet, $"input_{k}.pb")))));
        }

        IReadOnlyList<byte[]> first, second;
        try
        {
            first = OrtRunner.Run(source, feeds);
            second = OrtRunner.Run(source, feeds);
        }
        catch (Exception e) when (e is Microsoft.ML.OnnxRuntime.OnnxRuntimeException or NotSupportedException)
        {
            output.WriteLine($"not run: ONNX Runtime cannot run the original ({e.Message.Split('\n')[0]})");
            return;
        }

        if (!first.Zip(second).All(p => p.First.AsSpan().SequenceEqual(p.Second)))
        {
            output.WriteLine("not compared: the original's outputs differ between two runs (random op)");
            return;
        }

        var resaved = OrtRunner.Run(saved, feeds);
        Assert.Equal(first.Count, resaved.Count);
        for (var i = 0; i < first.Count; i++)
        {
            Assert.True(first[i].AsSpan().SequenceEqual(resaved[i]), $"Output {i} differs after the round trip.");
        }

        output.WriteLine("ran: outputs identical");
    }
}
