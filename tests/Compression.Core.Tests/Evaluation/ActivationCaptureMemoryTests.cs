using Compression.Core.Data;
using Compression.Core.Evaluation;
using Compression.Core.Onnx;
using Compression.Core.Tests.Support;

namespace Compression.Core.Tests.Evaluation;

/// <summary>Memory is measured for the whole process, so this runs in the collection no other test runs beside.</summary>
[Collection(nameof(Data.MemoryBoundTests))]
public sealed class ActivationCaptureMemoryTests
{
    [SkippableFact]
    public void Capturing_every_activation_of_MiniLM_streams_in_bounded_memory()
    {
        var path = TestAssets.Require(TestAssets.MiniLm, "all-MiniLM-L6-v2");
        var model = ModelLoader.Load(path);
        var values = model.Proto.Graph.Node.Where(n => n.OpType != "Constant").SelectMany(n => n.Output).ToList();
        var data = DataSourceFactory.Create(new DataSetSpec { Format = DataFormat.Random, Count = 128, VocabSize = 30522, Seed = 1 }, Path.GetTempPath());
        var before = GC.GetTotalMemory(forceFullCollection: true);
        long peak = 0;
        long batches = 0;
        long captured = 0;
        foreach (var (batch, outputs) in ActivationCapture.Capture(model, values, data, batchSize: 8))
        {
            Assert.Equal(values.Count, outputs.Count);
            Assert.Equal(values[0], outputs[0].Name);
            captured += outputs.Sum(o => (long)o.Values.Length);
            batches++;
            peak = Math.Max(peak, GC.GetTotalMemory(forceFullCollection: true) - before); // live memory, while the batch is held
        }

        Assert.Equal(16, batches);
        Assert.True(captured > 100_000_000, $"Only {captured} values captured.");
        Assert.True(peak < 1L << 30, $"Managed memory grew by {peak >> 20} MB while capturing.");
    }
}
