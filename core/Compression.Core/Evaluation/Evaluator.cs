using System.Diagnostics;
using Compression.Core.Data;
using Compression.Core.Diagnostics;
using Compression.Core.Evaluation.Metrics;
using Compression.Core.Onnx;
using Compression.Core.Options;

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
    IReadOnlyList<FidelityMetrics> Fidelity)
{
    /// <summary>The figure that says most, in words: the task metric before and after, else the fidelity that fits the outputs.</summary>
    public string Headline => Headlines.Of(this);
}

/// <summary>
/// Runs a reference and a candidate model over the same data with ONNX Runtime, one batch at a time, and
/// accumulates task metrics for each and fidelity of the candidate to the reference.
/// </summary>
public static class Evaluator
{
    public static EvaluationReport Evaluate(string referencePath, string? candidatePath, IDataSource data, EvaluationOptions options,
        ICompressionLog log, CancellationToken cancellation = default)
    {
        var referenceModel = ModelLoader.Load(referencePath, LoadOptions.MetadataOnly);
        var signature = ModelSignature.Of(referenceModel);
        var roles = OutputRoles.Of(referenceModel);
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
        Dictionary<string, FidelityAccumulator>? fidelity = null;
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
                fidelity ??= FidelityAccumulators(reference.OutputNames, roles, output, batch, options.Pooling, log);
                for (var i = 0; i < referenceOutputs.Count; i++)
                {
                    var accumulator = fidelity[referenceOutputs[i].Name];
                    if (pairedReference is null)
                    {
                        accumulator.Add(referenceOutputs[i], candidateOutputs[i], Mask(batch.Inputs));
                    }
                    else
                    {
                        accumulator.AddPairs(referenceOutputs[i], candidateOutputs[i], Mask(batch.Inputs), pairedReference[i], pairedCandidate![i], Mask(batch.PairedInputs!));
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

        var fidelityResults = fidelity?.Values.Select(f => f.Result()).ToList() ?? [];
        CheckRequested(options.Metrics, referenceTask.Result(), candidatePath is null ? null : fidelityResults, data.Name);
        if (options.Latency is null && options.Metrics.Contains(MetricName.Latency))
        {
            options = options with { Latency = new LatencyOptions { Threads = options.Threads } };
        }

        // Both models are timed side by side (their ratio is what reports and the max_latency_ratio gate read); the
        // runners above are closed first so only the timed sessions hold memory.
        reference.Dispose();
        candidate?.Dispose();
        var latencies = options.Latency is { } latency
            ? MeasureLatencies(candidatePath is null ? [referencePath] : [referencePath, candidatePath], data, latency, cancellation)
            : null;
        return new EvaluationReport(
            data.Name,
            data.IsSynthetic,
            Measure(referencePath, referenceTask, latencies?[0]),
            candidatePath is null ? null : Measure(candidatePath, candidateTask, latencies?[1]),
            fidelityResults);
    }

    /// <summary>Median and 90th-percentile wall time of single runs on the first batch of the data, after warm-up.</summary>
    public static LatencyMetrics MeasureLatency(string modelPath, IDataSource data, LatencyOptions options, CancellationToken cancellation = default) =>
        MeasureLatencies([modelPath], data, options, cancellation)[0];

    /// <summary>
    /// <see cref="MeasureLatency"/> of several models (the same inputs) in turn: the runs are split into up to
    /// <see cref="LatencyRounds"/> rounds that take the models one after the other, so a slow spell of the machine
    /// falls on all of them alike and their ratio holds still (measured one after the other on a 2-core VM, the ratio
    /// of two runs of the same pair moved by up to 40 %).
    /// </summary>
    public static IReadOnlyList<LatencyMetrics> MeasureLatencies(IReadOnlyList<string> modelPaths, IDataSource data, LatencyOptions options,
        CancellationToken cancellation = default)
    {
        var signature = ModelSignature.Of(ModelLoader.Load(modelPaths[0], LoadOptions.MetadataOnly));
        var batch = data.ReadBatches(signature, options.Batch, cancellation).FirstOrDefault()
            ?? throw new CompressionException(Diagnostic.Error(ErrorCodes.MetricNotApplicable, $"The data set '{data.Name}' gave no samples to time."));
        var runners = new List<ModelRunner>();
        try
        {
            foreach (var path in modelPaths)
            {
                runners.Add(new ModelRunner(path, new RunnerOptions { Threads = options.Threads }));
            }

            foreach (var runner in runners)
            {
                for (var i = 0; i < options.Warmup; i++)
                {
                    runner.Run(batch);
                }
            }

            var rounds = modelPaths.Count == 1 ? 1 : Math.Clamp(options.Runs / 10, 1, LatencyRounds);
            var times = runners.Select(_ => new double[options.Runs]).ToArray();
            for (var round = 0; round < rounds; round++)
            {
                var (from, to) = (options.Runs * round / rounds, options.Runs * (round + 1) / rounds);
                for (var m = 0; m < runners.Count; m++)
                {
                    for (var i = from; i < to; i++)
                    {
                        cancellation.ThrowIfCancellationRequested();
                        var start = Stopwatch.GetTimestamp();
                        runners[m].Run(batch);
                        times[m][i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                    }
                }
            }

            return times.Select(t => Summarize(t, batch.Count, options)).ToList();
        }
        finally
        {
            foreach (var runner in runners)
            {
                runner.Dispose();
            }
        }
    }

    /// <summary>At most this many alternations when models are timed side by side.</summary>
    public const int LatencyRounds = 10;

    private static LatencyMetrics Summarize(double[] times, int batch, LatencyOptions options)
    {
        Array.Sort(times);
        var median = times.Length % 2 == 1 ? times[times.Length / 2] : (times[times.Length / 2 - 1] + times[times.Length / 2]) / 2;
        var p90 = times[Math.Min(times.Length - 1, (int)Math.Ceiling(0.9 * times.Length) - 1)];
        return new LatencyMetrics(batch, options.Threads, options.Runs, median, p90, batch / (median / 1000));
    }

    /// <summary>A metric asked for by name must be one this data and this comparison produce.</summary>
    private static void CheckRequested(IReadOnlyList<MetricName> metrics, TaskMetrics task, IReadOnlyList<FidelityMetrics>? fidelity, string dataSet)
    {
        var missing = new List<string>();
        foreach (var metric in metrics.Distinct())
        {
            var reason = metric switch
            {
                MetricName.Accuracy or MetricName.TopK when task.Top1 is null => "needs class labels (int64), which this data set does not have",
                MetricName.Spearman or MetricName.Pearson when task.Spearman is null => "needs sentence pairs with scores, which this data set does not have",
                MetricName.Agreement or MetricName.Cosine or MetricName.Mse or MetricName.Sqnr or MetricName.MaxError when fidelity is null => "compares two models; give a reference",
                MetricName.Agreement when fidelity!.All(f => f.Agreement is null) =>
                    $"compares class scores, and no output holds them ({string.Join(", ", fidelity!.Select(f => $"{f.Output}: {OutputRole.Describe(f.Kind)}"))}); use cosine, or the task metric",
                _ => null,
            };
            if (reason is not null)
            {
                missing.Add($"{OptionNames.EnumName(metric)} {reason}");
            }
        }

        if (missing.Count > 0)
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.MetricNotApplicable, $"On data set '{dataSet}': {string.Join("; ", missing)}."));
        }
    }

    /// <summary>
    /// One accumulator per output, each with its role (<see cref="OutputRoles"/>); the output the task metrics read
    /// holds class scores when the data has class labels for it.
    /// </summary>
    private static Dictionary<string, FidelityAccumulator> FidelityAccumulators(IReadOnlyList<string> outputs, IReadOnlyDictionary<string, OutputRole> roles,
        string taskOutput, DataBatch batch, Pooling pooling, ICompressionLog log)
    {
        var accumulators = new Dictionary<string, FidelityAccumulator>(StringComparer.Ordinal);
        foreach (var name in outputs)
        {
            var role = roles.GetValueOrDefault(name) ?? OutputRoles.Unknown(name);
            if (name == taskOutput && batch.PairedInputs is null && batch.Labels?.Values is long[])
            {
                role = OutputRoles.Labelled(role);
            }

            log.Verbose($"Fidelity of '{name}': {OutputRole.Describe(role.Kind)} ({role.Reason})"
                + (role.Kind switch
                {
                    OutputKind.ClassScores => ": top-1 agreement, cosine, SQNR",
                    OutputKind.HiddenStates => ": cosine of the vectors pooled over the attention mask, of pair similarities on pairs, cosine, SQNR",
                    OutputKind.Embedding => ": cosine per vector, of pair similarities on pairs, cosine, SQNR",
                    _ => ": cosine, SQNR, errors",
                }) + ".");
            accumulators[name] = new FidelityAccumulator(role, pooling);
        }

        return accumulators;
    }

    private static ModelMeasurement Measure(string path, TaskAccumulator task, LatencyMetrics? latency) =>
        new(path, ModelLoader.Load(path, LoadOptions.MetadataOnly).SizeOnDisk, task.Result(), latency);

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
