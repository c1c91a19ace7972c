using System.Diagnostics;
using System.Globalization;
using Compression.Core.Onnx;

// Benchmarks, each compared side by side with a baseline in the same run. Results go to stdout as a
// Markdown table for docs/BENCHMARKS.md.
//
//   dotnet run -c Release --project bench/Compression.Bench -- model-io <model.onnx> [runs]
//
// model-io: load + atomic save of a model against a plain file copy of the same file. Each measurement is a
// fresh child process (cold: what a CLI or build step pays) reporting its wall time and peak resident memory.
//   dotnet run -c Release --project bench/Compression.Bench -- evaluate-memory <model.onnx> <images-idx3-ubyte.gz>
//
// evaluate-memory: peak memory of evaluating a model on the first 100 samples of a data set against the whole
// set: equal peaks show that evaluation streams one batch at a time.
//
//   dotnet run -c Release --project bench/Compression.Bench -- prune-minilm <model.onnx> <vocab.txt> <stsb folder>
//   dotnet run -c Release --project bench/Compression.Bench -- prune-mnist <mnist-8.onnx> <mnist folder>
//
// prune-*: 50 % unstructured and 2:4 pruning by each criterion, with and without reconstruction, side by side.
//
//   dotnet run -c Release --project bench/Compression.Bench -- prune-structured-minilm <model.onnx> <vocab.txt> <stsb folder> [runs] [heads] [neurons] [criterion]
//
// prune-structured-minilm: 2 of 12 heads per layer and 25 % of every FFN's neurons (or the heads, fraction and criterion given), calibrated and refit on 256
// STS-B dev sentences: pruning time, STS-B test Spearman and file ratio.
//
//   dotnet run -c Release --project bench/Compression.Bench -- calibration-memory <model.onnx> <sts.tsv> [sentences]
//
// calibration-memory: peak memory of static int8 quantization with Entropy calibration over N sentences (default
// 1,000) against plain fp32 inference over the same sentences, each in a fresh process: histograms are built
// batch by batch, so the calibrating process should not grow with N.
//
//   dotnet run -c Release --project bench/Compression.Bench -- search <model.onnx> <recipe.yaml> <output.onnx>
//
// search: runs a recipe's search (resuming its journal, <output>.search.jsonl, when there is one) and prints each
// trial, the Pareto front, the chosen values and the chosen model's figures on the held-out evaluate.data.
//
//   dotnet run -c Release --project bench/Compression.Bench -- corpus-sweep tests/fixtures/corpus tests/fixtures/sweep [model,model] [step,step]
//
//   dotnet run -c Release --project bench/Compression.Bench -- factorize-minilm <model.onnx> <vocab.txt> <stsb folder> [keep]
//
// factorize-minilm: every attention and FFN matrix at keep (0.5), plain SVD beside the whitened factors, calibrated on
// 128 STS-B dev sentences: factorizing time, STS-B test Spearman, file ratio, and all of it again after 4-bit weight-only.
//
// corpus-sweep: every sweep step (quantize in each mode and format, prune in each method, the cmdlet's defaults) on
// every export-corpus model: top-1 change on held-back Fashion-MNIST, file ratio, batch-1 latency ratio.
return args switch
{
    ["corpus-sweep", var corpus, var sweep, .. var filters] => CorpusSweep.Run(Path.GetFullPath(corpus), Path.GetFullPath(sweep), filters),
    ["search", var model, var recipe, var output] => SearchBench.Run(Path.GetFullPath(model), Path.GetFullPath(recipe), Path.GetFullPath(output)),
    ["model-io", var model, .. var rest] => ModelIo.Drive(Path.GetFullPath(model), rest.Length > 0 ? int.Parse(rest[0], CultureInfo.InvariantCulture) : 5),
    ["evaluate-memory", var model, var data] => EvaluationMemory.Drive(Path.GetFullPath(model), Path.GetFullPath(data)),
    ["prune-minilm", var model, var vocab, var stsb] => PruneFigures.MiniLm(Path.GetFullPath(model), Path.GetFullPath(vocab), Path.GetFullPath(stsb)),
    ["prune-structured-minilm", var model, var vocab, var stsb, .. var rest] => StructuredPruneFigures.MiniLm(Path.GetFullPath(model), Path.GetFullPath(vocab), Path.GetFullPath(stsb), rest),
    ["factorize-minilm", var model, var vocab, var stsb, .. var rest] => FactorizeFigures.MiniLm(Path.GetFullPath(model), Path.GetFullPath(vocab), Path.GetFullPath(stsb), rest),
    ["prune-mnist", var model, var folder] => PruneFigures.Mnist(Path.GetFullPath(model), Path.GetFullPath(folder)),
    ["calibration-memory", var model, var data, .. var rest] => CalibrationMemory.Drive(Path.GetFullPath(model), Path.GetFullPath(data), rest.Length > 0 ? int.Parse(rest[0], CultureInfo.InvariantCulture) : 1000),
    ["child", "calibrate", var mode, var model, var data, var take] => CalibrationMemory.Child(mode, model, data, int.Parse(take, CultureInfo.InvariantCulture)),
    ["child", "evaluate", var model, var data, var take] => EvaluationMemory.Child(model, data, long.Parse(take, CultureInfo.InvariantCulture)),
    ["child", var mode, var model, var target] => ModelIo.Child(mode, model, target),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: Compression.Bench model-io <model.onnx> [runs] | evaluate-memory <model.onnx> <images> | calibration-memory <model.onnx> <sts.tsv> [sentences] | prune-minilm <model.onnx> <vocab.txt> <stsb folder> | prune-mnist <mnist-8.onnx> <mnist folder> | prune-structured-minilm <model.onnx> <vocab.txt> <stsb folder> [runs] [heads] [neurons] [criterion] | search <model.onnx> <recipe.yaml> <output.onnx> | corpus-sweep <corpus folder> <sweep folder> [models] [steps] | factorize-minilm <model.onnx> <vocab.txt> <stsb folder> [keep]");
    return 2;
}

internal static class EvaluationMemory
{
    public static int Drive(string model, string data)
    {
        Console.WriteLine($"Model: {Path.GetFileName(model)}; data: {Path.GetFileName(data)}; batch size 32 (or the model's own); one thread");
        Console.WriteLine();
        Console.WriteLine("| samples evaluated | wall time (s) | peak RSS (MB) |");
        Console.WriteLine("| ---: | ---: | ---: |");
        var results = new List<(long Samples, double Seconds, long Peak)>();
        foreach (var take in new long[] { 100, long.MaxValue })
        {
            var line = ChildProcess.Run(["child", "evaluate", model, data, take.ToString(CultureInfo.InvariantCulture)]);
            results.Add((long.Parse(line[0], CultureInfo.InvariantCulture), double.Parse(line[1], CultureInfo.InvariantCulture), long.Parse(line[2], CultureInfo.InvariantCulture)));
            Console.WriteLine($"| {results[^1].Samples:N0} | {results[^1].Seconds:0.00} | {results[^1].Peak / 1e6:0.0} |");
        }

        Console.WriteLine();
        Console.WriteLine($"Peak memory, whole set / first 100: **{(double)results[1].Peak / results[0].Peak:0.00}x** for {(double)results[1].Samples / results[0].Samples:0}x the samples.");
        return 0;
    }

    public static int Child(string model, string data, long take)
    {
        var watch = Stopwatch.StartNew();
        var spec = Compression.Core.Data.DataSourceFactory.Describe(data) with { Take = take == long.MaxValue ? null : take };
        var source = Compression.Core.Data.DataSourceFactory.Create(spec, Path.GetDirectoryName(data)!);
        var report = Compression.Core.Evaluation.Evaluator.Evaluate(model, null, source, new Compression.Core.Evaluation.EvaluationOptions(), new Compression.Core.Diagnostics.CollectingLog());
        Console.WriteLine(FormattableString.Invariant($"{report.Reference.Task.Samples} {watch.Elapsed.TotalSeconds} {ModelIo.PeakResidentBytes()}"));
        return 0;
    }
}

internal static class ChildProcess
{
    /// <summary>Runs this program again with the arguments and returns its last output line, split on spaces.</summary>
    public static string[] Run(IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true };
        if (Environment.GetCommandLineArgs()[0].EndsWith(".dll", StringComparison.Ordinal))
        {
            start.ArgumentList.Add(Environment.GetCommandLineArgs()[0]);
        }

        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var lines = process.StandardOutput.ReadToEnd().Trim().Split('\n');
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{string.Join(' ', arguments)} failed with exit code {process.ExitCode}.");
        }

        return lines[^1].Trim().Split(' ');
    }
}

internal static class ModelIo
{
    public static int Drive(string model, int runs)
    {
        var size = new FileInfo(model).Length;
        var folder = Path.Combine(Path.GetDirectoryName(model)!, $".bench-{Environment.ProcessId}");
        Directory.CreateDirectory(folder);
        var results = new Dictionary<string, List<(double Ms, long PeakBytes)>> { ["copy"] = [], ["roundtrip"] = [] };
        try
        {
            // Warm the page cache so both sides read from memory, then alternate the two so drift hits both.
            File.ReadAllBytes(model);
            for (var i = 0; i < runs; i++)
            {
                foreach (var mode in new[] { "copy", "roundtrip" })
                {
                    results[mode].Add(RunChild(mode, model, Path.Combine(folder, $"{mode}-{i}.onnx")));
                }
            }
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }

        var copyMs = Median(results["copy"].Select(r => r.Ms));
        var tripMs = Median(results["roundtrip"].Select(r => r.Ms));
        var copyPeak = Median(results["copy"].Select(r => (double)r.PeakBytes));
        var tripPeak = Median(results["roundtrip"].Select(r => (double)r.PeakBytes));
        Console.WriteLine($"Model: {Path.GetFileName(model)}, {size / 1e6:0.0} MB; {runs} runs each, alternating, median; {Environment.ProcessorCount} cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}");
        Console.WriteLine();
        Console.WriteLine("| operation | wall time (ms) | peak RSS (MB) | peak RSS / model size |");
        Console.WriteLine("| --- | ---: | ---: | ---: |");
        Console.WriteLine($"| file copy | {copyMs:0.0} | {copyPeak / 1e6:0.0} | {copyPeak / size:0.00}x |");
        Console.WriteLine($"| load + save | {tripMs:0.0} | {tripPeak / 1e6:0.0} | {tripPeak / size:0.00}x |");
        Console.WriteLine();
        Console.WriteLine($"Round trip / copy time: **{tripMs / copyMs:0.00}x** (goal <= 3x); peak memory of the round-trip process: **{tripPeak / size:0.00}x** the model size (goal < 2.5x).");
        return 0;
    }

    public static int Child(string mode, string model, string target)
    {
        var watch = Stopwatch.StartNew();
        if (mode == "copy")
        {
            File.Copy(model, target);
            using var stream = new FileStream(target, FileMode.Open, FileAccess.ReadWrite);
            stream.Flush(flushToDisk: true); // the writer flushes to disk too: same durability on both sides
        }
        else
        {
            ModelWriter.Save(ModelLoader.Load(model), target);
        }

        watch.Stop();
        Console.WriteLine(FormattableString.Invariant($"{watch.Elapsed.TotalMilliseconds} {PeakResidentBytes()}"));
        return 0;
    }

    private static (double Ms, long PeakBytes) RunChild(string mode, string model, string target)
    {
        var line = ChildProcess.Run(["child", mode, model, target]);
        File.Delete(target);
        return (double.Parse(line[0], CultureInfo.InvariantCulture), long.Parse(line[1], CultureInfo.InvariantCulture));
    }

    /// <summary>The process's peak resident set (VmHWM), the figure that counts against a build machine's memory.</summary>
    public static long PeakResidentBytes()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
            {
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
            }
        }

        return Process.GetCurrentProcess().PeakWorkingSet64;
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}

internal static class CalibrationMemory
{
    private const int BatchSize = 16;

    public static int Drive(string model, string sentences, int count)
    {
        Console.WriteLine($"Model: {Path.GetFileName(model)}; data: the first {count:N0} sentences (column 6) of {Path.GetFileName(sentences)}, batches of {BatchSize}; each side a fresh process");
        Console.WriteLine();
        Console.WriteLine("| process | wall time (s) | peak RSS (MB) |");
        Console.WriteLine("| --- | ---: | ---: |");
        var peaks = new Dictionary<string, long>();
        foreach (var (mode, label) in new[] { ("infer", "fp32 inference over the sentences"), ("entropy", "static int8, Entropy calibration over the sentences") })
        {
            var line = ChildProcess.Run(["child", "calibrate", mode, model, sentences, count.ToString(CultureInfo.InvariantCulture)]);
            peaks[mode] = long.Parse(line[1], CultureInfo.InvariantCulture);
            Console.WriteLine($"| {label} | {double.Parse(line[0], CultureInfo.InvariantCulture):0.0} | {peaks[mode] / 1e6:0} |");
        }

        Console.WriteLine();
        Console.WriteLine($"Peak memory of Entropy calibration: **{peaks["entropy"] / 1e9:0.00} GB** (goal < 2 GB), {(double)peaks["entropy"] / peaks["infer"]:0.00}x plain inference.");
        return 0;
    }

    public static int Child(string mode, string model, string sentences, int count)
    {
        var watch = Stopwatch.StartNew();
        var data = Compression.Core.Data.DataSourceFactory.Create(new Compression.Core.Data.DataSetSpec
        {
            Format = Compression.Core.Data.DataFormat.Text,
            Path = sentences,
            Column = 5,
            Take = count,
            Vocab = Path.ChangeExtension(model, ".vocab.txt"),
            Name = "sentences",
        }, Path.GetDirectoryName(sentences)!);
        var log = new Compression.Core.Diagnostics.CollectingLog();
        if (mode == "infer")
        {
            Compression.Core.Evaluation.Evaluator.Evaluate(model, null, data, new Compression.Core.Evaluation.EvaluationOptions { BatchSize = BatchSize }, log);
        }
        else
        {
            var options = new Compression.Core.Quantization.QuantizeOptions
            {
                Mode = Compression.Core.Quantization.QuantizationMode.Static,
                Format = Compression.Core.Quantization.QuantizationFormat.Qdq,
                Calibration = new Compression.Core.Quantization.CalibrationSpec
                {
                    Data = "sentences",
                    Method = Compression.Core.Quantization.CalibrationMethod.Entropy,
                    Samples = count,
                    BatchSize = BatchSize,
                },
            };
            var context = new Compression.Core.Passes.PassContext(log) { DataSets = new Dictionary<string, Compression.Core.Data.IDataSource> { ["sentences"] = data } };
            new Compression.Core.Quantization.QuantizePass().Run(ModelLoader.Load(model), options, context);
        }

        Console.WriteLine(FormattableString.Invariant($"{watch.Elapsed.TotalSeconds} {ModelIo.PeakResidentBytes()}"));
        return 0;
    }
}
