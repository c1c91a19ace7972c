using System.Diagnostics;
using Compression.Core.Data;
using Compression.Core.Diagnostics;
using Compression.Core.Evaluation.Metrics;
using Compression.Core.Onnx;

namespace Compression.Core.Evaluation;

/// <summary>How to measure latency.</summary>
public sealed record LatencyOptions
{
    public int Batch { get; init; } = 1;

    public int Threads { get; init; } = 1;

    public int Warmup { get; init; } = 5;

    public int Runs { get; init; } = 50;
}

/// <summary>What to evaluate and how.</summary>
public sealed record EvaluationOptions
{
    /// <summary>Samples per run; a model with a fixed batch dimension gets its own.</summary>
    public int BatchSize { get; init; } = 32;

    public int TopK { get; init; } = 5;

    public Pooling Pooling { get; init; } = Pooling.Mean;

    /// <summary>The output task metrics read; the model's first output when null.</summary>
    public string? Output { get; init; }

    public int Threads { get; init; } = 1;

    /// <summary>Measure latency too; null to skip (unless <see cref="Metrics"/> asks for it).</summary>
    public LatencyOptions? Latency { get; init; }

    /// <summary>Metrics that must be produced; asking for one the data or the comparison cannot give is an error. Empty: all that apply.</summary>
    public IReadOnlyList<MetricName> Metrics { get; init; } = [];
}

/// <summary>Run time of one model on one batch.</summary>
public sealed record LatencyMetrics(int Batch, int Threads, int Runs, double MedianMs, double P90Ms, double ThroughputPerSecond);

/// <summary>One model's figures.</summary>
public sealed record ModelMeasurement(string Path, long SizeBytes, TaskMetrics Task, LatencyMetrics? Latency);

/// <summary>A reference model, optionally a candidate, measured on the same data.</summary>
public sealed record EvaluationReport(
    string DataSet,
    bool SyntheticData,
    ModelMeasurement Reference,
    ModelMeasurement? Candidate,
    IReadOnlyList<FidelityMetrics> Fidelity);

/// <summary>
/// Runs a reference and a candidate model over the same data with ONNX Runtime, one batch at a time, and
/// accumulates task metrics for each and fidelity of the candidate to the reference.
/// </summary>
public static class Evaluator
{
    public static EvaluationReport Evaluate(string referencePath, string? candidatePath, IDataSource data, EvaluationOptions options,
        ICompressionLog log, CancellationToken cancellation = default)
    {
        var signature = ModelSignature.Of(ModelLoader.Load(referencePath, LoadOptions.MetadataOnly));
        var runnerOptions = new RunnerOptions { Threads = options.Threads };
        using var reference = new ModelRunner(referencePath, runnerOptions);
        using var candidate = candidatePath is null ? null : new ModelRunner(candidatePath, runnerOptions);
        var output = options.Output ?? reference.OutputNames[0];
        if (!reference.OutputNames.Contains(output))
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.MetricNotApplicable,
                $"The model has no output '{output}'; its outputs are {string.Join(", ", reference.OutputNames)}.", referencePath));
        }

        var referenceTask = new TaskAccumulator(options.TopK, options.Pooling);
        var candidateTask = new TaskAccumulator(options.TopK, options.Pooling);
        var fidelity = reference.OutputNames.ToDictionary(n => n, n => new FidelityAccumulator(n));
        long seen = 0;
        foreach (var batch in data.ReadBatches(signature, options.BatchSize, cancellation))
        {
            cancellation.ThrowIfCancellationRequested();
            var referenceOutputs = reference.Run(batch);
            var candidateOutputs = candidate?.Run(batch);
            var pairedReference = batch.PairedInputs is null ? null : reference.Run(batch, paired: true);
            var pairedCandidate = batch.PairedInputs is null ? null : candidate?.Run(batch, paired: true);
            Accumulate(referenceTask, batch, output, referenceOutputs, pairedReference);
            if (candidateOutputs is not null)
            {
                Accumulate(candidateTask, batch, output, candidateOutputs, pairedCandidate);
                for (var i = 0; i < referenceOutputs.Count; i++)
                {
                    fidelity[referenceOutputs[i].Name].Add(referenceOutputs[i], candidateOutputs[i]);
                    if (pairedReference is not null)
                    {
                        fidelity[referenceOutputs[i].Name].Add(pairedReference[i], pairedCandidate![i]);
                    }
                }
            }

            seen += batch.Count;
            log.Progress("Evaluating", $"{seen} samples of {data.Name}", data.Count is { } total && total > 0 ? Math.Min(1, (double)seen / total) : null);
        }

        if (seen == 0)
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.MetricNotApplicable, $"The data set '{data.Name}' gave no samples to evaluate on."));
        }

        CheckRequested(options.Metrics, referenceTask.Result(), candidatePath is not null, data.Name);
        if (options.Latency is null && options.Metrics.Contains(MetricName.Latency))
        {
            options = options with { Latency = new LatencyOptions { Threads = options.Threads } };
        }

        return new EvaluationReport(
            data.Name,
            data.IsSynthetic,
            Measure(referencePath, referenceTask, options, data, cancellation),
            candidatePath is null ? null : Measure(candidatePath, candidateTask, options, data, cancellation),
            candidatePath is null ? [] : fidelity.Values.Select(f => f.Result()).ToList());
    }

    /// <summary>Median and 90th-percentile wall time of single runs on the first batch of the data, after warm-up.</summary>
    public static LatencyMetrics MeasureLatency(string modelPath, IDataSource data, LatencyOptions options, CancellationToken cancellation = default)
    {
        var signature = ModelSignature.Of(ModelLoader.Load(modelPath, LoadOptions.MetadataOnly));
        var batch = data.ReadBatches(signature, options.Batch, cancellation).FirstOrDefault()
            ?? throw new CompressionException(Diagnostic.Error(ErrorCodes.MetricNotApplicable, $"The data set '{data.Name}' gave no samples to time."));
        using var runner = new ModelRunner(modelPath, new RunnerOptions { Threads = options.Threads });
        for (var i = 0; i < options.Warmup; i++)
        {
            runner.Run(batch);
        }

        var times = new double[options.Runs];
        for (var i = 0; i < options.Runs; i++)
        {
            cancellation.ThrowIfCancellationRequested();
            var start = Stopwatch.GetTimestamp();
            runner.Run(batch);
            times[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }

        Array.Sort(times);
        var median = times.Length % 2 == 1 ? times[times.Length / 2] : (times[times.Length / 2 - 1] + times[times.Length / 2]) / 2;
        var p90 = times[Math.Min(times.Length - 1, (int)Math.Ceiling(0.9 * times.Length) - 1)];
        return new LatencyMetrics(batch.Count, options.Threads, options.Runs, median, p90, batch.Count / (median / 1000));
    }

    /// <summary>A metric asked for by name must be one this data and this comparison produce.</summary>
    private static void CheckRequested(IReadOnlyList<MetricName> metrics, TaskMetrics task, bool compared, string dataSet)
    {
        var missing = new List<string>();
        foreach (var metric in metrics.Distinct())
        {
            var reason = metric switch
            {
                MetricName.Accuracy or MetricName.TopK when task.Top1 is null => "needs class labels (int64), which this data set does not have",
                MetricName.Spearman or MetricName.Pearson when task.Spearman is null => "needs sentence pairs with scores, which this data set does not have",
                MetricName.Agreement or MetricName.Cosine or MetricName.Mse or MetricName.Sqnr or MetricName.MaxError when !compared => "compares two models; give a reference",
                _ => null,
            };
            if (reason is not null)
            {
                missing.Add($"{Recipes.OptionBinder.EnumName(metric)} {reason}");
            }
        }

        if (missing.Count > 0)
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.MetricNotApplicable, $"On data set '{dataSet}': {string.Join("; ", missing)}."));
        }
    }

    private static ModelMeasurement Measure(string path, TaskAccumulator task, EvaluationOptions options, IDataSource data, CancellationToken cancellation) =>
        new(path, ModelLoader.Load(path, LoadOptions.MetadataOnly).SizeOnDisk, task.Result(),
            options.Latency is { } latency ? MeasureLatency(path, data, latency, cancellation) : null);

    private static void Accumulate(TaskAccumulator task, DataBatch batch, string output, IReadOnlyList<OutputValue> outputs, IReadOnlyList<OutputValue>? paired)
    {
        if (batch.Labels is null)
        {
            return;
        }

        var value = outputs.First(o => o.Name == output);
        if (paired is not null)
        {
            task.AddSimilarity(value, Mask(batch.Inputs), paired.First(o => o.Name == output), Mask(batch.PairedInputs!), batch.Labels);
        }
        else if (batch.Labels.Values is long[])
        {
            task.AddClassification(value, batch.Labels);
        }
    }

    private static TensorData? Mask(IReadOnlyList<TensorData> inputs) => inputs.FirstOrDefault(i => i.Name == "attention_mask");
}
