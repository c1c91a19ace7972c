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
}
