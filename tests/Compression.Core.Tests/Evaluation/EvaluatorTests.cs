using Compression.Core.Data;
using Compression.Core.Diagnostics;
using Compression.Core.Evaluation;
using Compression.Core.Onnx;
using Compression.Core.Tests.Support;

namespace Compression.Core.Tests.Evaluation;

public sealed class EvaluatorTests
{
    [SkippableFact]
    public void MiniLm_on_sts_b_test_gives_the_published_spearman()
    {
        var model = TestAssets.Require(TestAssets.MiniLm, "all-MiniLM-L6-v2");
        var pairs = TestAssets.Require(Path.Combine(TestAssets.SharedAssets, "stsb", "sts-test.tsv"), "STS-B test set");
        var data = DataSourceFactory.Create(new DataSetSpec
        {
            Format = DataFormat.Text,
            Path = pairs,
            PairColumns = [5, 6],
            ScoreColumn = 4,
            Vocab = Path.Combine(Path.GetDirectoryName(model)!, "vocab.txt"),
        }, Path.GetDirectoryName(pairs)!);

        var report = Evaluator.Evaluate(model, null, data, new EvaluationOptions { BatchSize = 64, Threads = 2 }, new CollectingLog());
        Assert.Equal(1379, report.Reference.Task.Samples);
        Assert.InRange(report.Reference.Task.Spearman!.Value * 100, 82.01, 82.05);
        Assert.InRange(report.Reference.Task.Pearson!.Value, 0.8, 0.9);
    }

    [SkippableFact]
    public void Latency_is_measured_after_warm_up_with_one_thread()
    {
        var model = TestAssets.Require(TestAssets.Mnist, "mnist-8");
        var data = DataSourceFactory.Create(new DataSetSpec { Format = DataFormat.Random, Count = 4 }, Path.GetTempPath());
        var latency = Evaluator.MeasureLatency(model, data, new LatencyOptions { Runs = 20, Warmup = 3 });
        Assert.Equal(1, latency.Batch);
        Assert.Equal(1, latency.Threads);
        Assert.Equal(20, latency.Runs);
        Assert.True(latency.MedianMs > 0 && latency.P90Ms >= latency.MedianMs);
        Assert.Equal(1000 / latency.MedianMs, latency.ThroughputPerSecond, 6);
    }

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
            peak = Math.Max(peak, GC.GetTotalMemory(forceFullCollection: false) - before);
        }

        Assert.Equal(16, batches);
        Assert.True(captured > 100_000_000, $"Only {captured} values captured.");
        Assert.True(peak < 1L << 30, $"Managed memory grew by {peak >> 20} MB while capturing.");
    }
}
