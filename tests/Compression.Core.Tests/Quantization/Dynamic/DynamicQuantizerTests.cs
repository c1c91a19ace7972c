using System.Diagnostics;
using Compression.Core.Data;
using Compression.Core.Diagnostics;
using Compression.Core.Evaluation;
using Compression.Core.Onnx;
using Compression.Core.Passes;
using Compression.Core.Passes.Graph;
using Compression.Core.Quantization;
using Compression.Core.Quantization.Dynamic;
using Compression.Core.Tests.Support;
using Xunit.Abstractions;

namespace Compression.Core.Tests.Quantization.Dynamic;

public sealed class DynamicQuantizerTests(ITestOutputHelper output) : IDisposable
{
    private readonly PassHarness harness = new();

    public void Dispose() => harness.Dispose();

    [SkippableFact]
    public void MiniLm_keeps_its_spearman_in_a_quarter_of_the_file_within_a_second()
    {
        var path = TestAssets.Require(TestAssets.MiniLm, "all-MiniLM-L6-v2");
        var model = ModelLoader.Load(path);
        var started = Stopwatch.GetTimestamp();
        var result = new DynamicQuantizer().Quantize(model, new QuantizeOptions(), new PassContext(harness.Log));
        var elapsed = Stopwatch.GetElapsedTime(started);
        var quantized = QuantizationAssets.SaveBesideVocab(result.Model, path, harness.Temp, "dynamic");

        var report = QuantizationAssets.Stsb(path, quantized);
        var spearman = report.Candidate!.Task.Spearman!.Value * 100;
        var size = new FileInfo(quantized).Length;
        output.WriteLine($"dynamic int8 MiniLM: Spearman {spearman:F2} (fp32 {report.Reference.Task.Spearman!.Value * 100:F2}), " +
            $"{size / 1e6:F2} MB, quantized in {elapsed.TotalMilliseconds:F0} ms, {PassHarness.Stat(result, "quantized_nodes")} nodes");
        Assert.True(spearman >= 81.95, $"Spearman {spearman:F2} is under 81.95.");
        Assert.True(size <= 23_000_000, $"The file is {size} bytes.");
        Assert.True(elapsed.TotalSeconds <= 1, $"Quantizing took {elapsed.TotalMilliseconds:F0} ms.");
        var byOp = (Dictionary<string, int>)result.Statistics["quantized_by_op"];
        Assert.Equal(36, byOp["MatMul"]);
        Assert.Equal(3, byOp["Gather"]);
    }
}
