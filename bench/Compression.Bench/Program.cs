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
return args switch
{
    ["model-io", var model, .. var rest] => ModelIo.Drive(Path.GetFullPath(model), rest.Length > 0 ? int.Parse(rest[0], CultureInfo.InvariantCulture) : 5),
    ["child", var mode, var model, var target] => ModelIo.Child(mode, model, target),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: Compression.Bench model-io <model.onnx> [runs]");
    return 2;
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
        var start = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true };
        foreach (var arg in Environment.GetCommandLineArgs()[0].EndsWith(".dll", StringComparison.Ordinal) ? [Environment.GetCommandLineArgs()[0]] : Array.Empty<string>())
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var arg in new[] { "child", mode, model, target })
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var line = process.StandardOutput.ReadToEnd().Trim().Split(' ');
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{mode} failed with exit code {process.ExitCode}.");
        }

        File.Delete(target);
        return (double.Parse(line[0], CultureInfo.InvariantCulture), long.Parse(line[1], CultureInfo.InvariantCulture));
    }

    /// <summary>The process's peak resident set (VmHWM), the figure that counts against a build machine's memory.</summary>
    private static long PeakResidentBytes()
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
