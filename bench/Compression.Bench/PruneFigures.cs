using System.Diagnostics;
using System.Globalization;
using Compression.Core.Data;
using Compression.Core.Diagnostics;
using Compression.Core.Evaluation;
using Compression.Core.Evaluation.Metrics;
using Compression.Core.Onnx;
using Compression.Core.Passes;
using Compression.Core.Pruning;

/// <summary>
/// Unstructured (50 %) and 2:4 pruning of a model by every criterion, with and without reconstruction, side by side:
/// the task metric of each result on the test data and the pruning time. One Markdown table for docs/BENCHMARKS.md.
///   prune-minilm &lt;all-MiniLM-L6-v2.onnx&gt; &lt;vocab.txt&gt; &lt;stsb folder&gt;   (calibration: 128 STS-B dev sentences; test: STS-B test)
///   prune-mnist &lt;mnist-8.onnx&gt; &lt;mnist folder&gt;                           (calibration: 256 test images; test: all 10,000)
/// </summary>
internal static class PruneFigures
{
    public static int MiniLm(string model, string vocab, string stsb)
    {
        var (calibration, test) = StsB(vocab, stsb, 128);
        return Drive(model, calibration, test, 128, "STS-B test Spearman x100", r => r.Spearman * 100, "F2");
    }

    /// <summary>The first <paramref name="sentences"/> STS-B dev sentences to calibrate on, and the STS-B test pairs.</summary>
    public static (IDataSource Calibration, IDataSource Test) StsB(string vocab, string stsb, int sentences) => (
        DataSourceFactory.Create(new DataSetSpec { Format = DataFormat.Text, Path = "sts-dev.tsv", Column = 5, Take = sentences, Vocab = vocab }, stsb),
        DataSourceFactory.Create(new DataSetSpec { Format = DataFormat.Text, Path = "sts-test.tsv", PairColumns = [5, 6], ScoreColumn = 4, Vocab = vocab }, stsb));

    /// <summary>
    /// Prunes the model with the calibration data under the name "calibration", timing only the pruning, and writes
    /// the result into <paramref name="folder"/>: the pass result, the seconds and the written file.
    /// </summary>
    public static (PassResult Result, double Seconds, string Path) PruneTimed(string model, PruneOptions options, IDataSource calibration, DirectoryInfo folder)
    {
        var context = new PassContext(new CollectingLog()) { DataSets = new Dictionary<string, IDataSource> { ["calibration"] = calibration } };
        var watch = Stopwatch.StartNew();
        var result = new PrunePass().Run(ModelLoader.Load(model), options, context);
        var seconds = watch.Elapsed.TotalSeconds;
        var path = Path.Combine(folder.FullName, Path.GetFileName(model));
        ModelWriter.Save(result.Model, path, new SaveOptions { Overwrite = true });
        return (result, seconds, path);
    }

    public static int Mnist(string model, string folder)
    {
        var calibration = DataSourceFactory.Create(new DataSetSpec { Format = DataFormat.Idx, Path = "t10k-images-idx3-ubyte.gz", Take = 256, Scale = 1 / 255.0 }, folder);
        var test = DataSourceFactory.Create(new DataSetSpec
        {
            Format = DataFormat.Idx,
            Path = "t10k-images-idx3-ubyte.gz",
            Labels = "t10k-labels-idx1-ubyte.gz",
            Scale = 1 / 255.0,
        }, folder);
        return Drive(model, calibration, test, 256, "MNIST test top-1 %", r => r.Top1 * 100, "F2");
    }

    private static int Drive(string model, IDataSource calibration, IDataSource test, int samples, string metric, Func<TaskMetrics, double?> read, string format)
    {
        var evaluation = new EvaluationOptions { BatchSize = 64, Threads = Environment.ProcessorCount };
        var reference = read(Evaluator.Evaluate(model, null, test, evaluation, new CollectingLog()).Reference.Task)!.Value;
        Console.WriteLine($"Model: {Path.GetFileName(model)}; fp32 {metric}: {reference.ToString(format, CultureInfo.InvariantCulture)}; calibration: {samples} samples");
        Console.WriteLine();
        Console.WriteLine($"| method | criterion | reconstruction | {metric} | sparsity | pruning time (s) |");
        Console.WriteLine("| --- | --- | --- | ---: | ---: | ---: |");
        var calibrationSpec = new StepCalibrationSpec { Data = "calibration", Samples = samples };
        var cases = new List<(PruneOptions Options, string Criterion, string Reconstruction)>();
        foreach (var method in new[] { PruningMethod.Unstructured, PruningMethod.NM })
        {
            // Every layer at the target: the rows compare criteria and reconstruction, not the allocation (see corpus-sweep).
            var basis = new PruneOptions { Method = method, Sparsity = 0.5, Pattern = "2:4", Criterion = ImportanceCriterion.L1, Scope = PruningScope.Layer, MaxLayerError = 1 };
            cases.Add((basis, "magnitude", "none"));
            cases.Add((basis with { Calibration = calibrationSpec }, "magnitude", "SparseGPT update + bias"));
            cases.Add((basis with { Criterion = ImportanceCriterion.Activation, Calibration = calibrationSpec, Reconstruct = false }, "activation (Wanda)", "none"));
            cases.Add((basis with { Criterion = ImportanceCriterion.Activation, Calibration = calibrationSpec }, "activation (Wanda)", "SparseGPT update + bias"));
            cases.Add((basis with { Criterion = ImportanceCriterion.OutputError, Calibration = calibrationSpec }, "output error (SparseGPT)", "SparseGPT update + bias"));
        }

        var folder = Directory.CreateTempSubdirectory("prune-bench-");
        try
        {
            foreach (var (options, criterion, reconstruction) in cases)
            {
                var (result, seconds, path) = PruneTimed(model, options, calibration, folder);
                var value = read(Evaluator.Evaluate(path, null, test, evaluation, new CollectingLog()).Reference.Task)!.Value;
                var name = options.Method == PruningMethod.NM ? "2:4" : "50 % unstructured";
                Console.WriteLine(FormattableString.Invariant($"| {name} | {criterion} | {reconstruction} | {value.ToString(format, CultureInfo.InvariantCulture)} | {((Compression.Core.Pruning.SparsePruneResult)result.Result).Sparsity:P1} | {seconds:F1} |"));
            }
        }
        finally
        {
            folder.Delete(recursive: true);
        }

        return 0;
    }
}

/// <summary>
/// Structured pruning of all-MiniLM-L6-v2 as issue 5 states it (2 of 12 heads per layer, 25 % of every FFN's
/// neurons, calibrated with reconstruction on 256 STS-B dev sentences): the pruning time, the Spearman on the STS-B
/// test set and the file ratio, beside the fp32 model measured in the same run.
///   prune-structured-minilm &lt;all-MiniLM-L6-v2.onnx&gt; &lt;vocab.txt&gt; &lt;stsb folder&gt; [runs] [heads] [neurons] [criterion]
/// (other heads/neurons/criterion values explore the size/accuracy trade-off).
/// </summary>
internal static class StructuredPruneFigures
{
    public static int MiniLm(string model, string vocab, string stsb, string[] rest)
    {
        var runs = rest.Length > 0 ? int.Parse(rest[0], CultureInfo.InvariantCulture) : 1;
        var heads = rest.Length > 1 ? int.Parse(rest[1], CultureInfo.InvariantCulture) : 2;
        var neurons = rest.Length > 2 ? double.Parse(rest[2], CultureInfo.InvariantCulture) : 0.25;
        var criterion = rest.Length > 3 ? Enum.Parse<ImportanceCriterion>(rest[3], ignoreCase: true) : ImportanceCriterion.Auto;
        var (calibration, test) = PruneFigures.StsB(vocab, stsb, 256);
        var evaluation = new EvaluationOptions { BatchSize = 64, Threads = Environment.ProcessorCount };
        var reference = Evaluator.Evaluate(model, null, test, evaluation, new CollectingLog()).Reference.Task.Spearman!.Value * 100;
        Console.WriteLine(FormattableString.Invariant($"Model: {Path.GetFileName(model)}; fp32 Spearman x100 {reference:F2}; {heads} heads and {neurons:P0} of the FFN neurons per layer, {criterion}; {Environment.ProcessorCount} cores"));
        Console.WriteLine();
        Console.WriteLine("| run | pruning time (s) | Spearman x100 | file |");
        Console.WriteLine("| ---: | ---: | ---: | ---: |");
        var options = new PruneOptions
        {
            Method = PruningMethod.Structured,
            Structured = new Compression.Core.Pruning.Structured.StructuredPruneOptions { Heads = heads, Neurons = neurons },
            Criterion = criterion,
            Calibration = new StepCalibrationSpec { Data = "calibration", Samples = 256, BatchSize = 16 },
        };
        var folder = Directory.CreateTempSubdirectory("prune-bench-");
        try
        {
            for (var run = 1; run <= runs; run++)
            {
                var (_, seconds, path) = PruneFigures.PruneTimed(model, options, calibration, folder);
                var spearman = Evaluator.Evaluate(path, null, test, evaluation, new CollectingLog()).Reference.Task.Spearman!.Value * 100;
                var ratio = (double)new FileInfo(path).Length / new FileInfo(model).Length;
                Console.WriteLine(FormattableString.Invariant($"| {run} | {seconds:F1} | {spearman:F2} | {ratio:F3}x |"));
            }
        }
        finally
        {
            folder.Delete(recursive: true);
        }

        return 0;
    }
}
