using System.Diagnostics;
using System.Globalization;
using Compression.Core.Data;
using Compression.Core.Diagnostics;
using Compression.Core.Evaluation;
using Compression.Core.Factorization;
using Compression.Core.Onnx;
using Compression.Core.Passes;
using Compression.Core.Quantization;

/// <summary>
/// all-MiniLM-L6-v2 factorized at a keep share (every attention and FFN matrix), plain SVD beside the whitened
/// factors with each allocation, calibrated on 128 STS-B dev sentences: factorizing time, STS-B test Spearman, file
/// ratio, and the same model after 4-bit weight-only quantization.
/// </summary>
internal static class FactorizeFigures
{
    public static int MiniLm(string model, string vocab, string stsb, string[] rest)
    {
        var keep = rest.Length > 0 ? double.Parse(rest[0], CultureInfo.InvariantCulture) : 0.5;
        var (calibration, test) = PruneFigures.StsB(vocab, stsb, 128);
        var evaluation = new EvaluationOptions { BatchSize = 64, Threads = Environment.ProcessorCount };
        var reference = Evaluator.Evaluate(model, null, test, evaluation, new CollectingLog()).Reference.Task.Spearman!.Value * 100;
        Console.WriteLine(FormattableString.Invariant($"Model: {Path.GetFileName(model)} ({new FileInfo(model).Length:N0} bytes); fp32 Spearman x100 {reference:F2}; keep {keep}; {Environment.ProcessorCount} cores"));
        Console.WriteLine();
        Console.WriteLine("| factors | factorizing time (s) | Spearman x100 | file | + 4-bit weight-only: Spearman x100 | file (MB) |");
        Console.WriteLine("| --- | ---: | ---: | ---: | ---: | ---: |");
        var spec = new StepCalibrationSpec { Data = "calibration", Samples = 128, BatchSize = 16 };
        var variants = new (string Name, FactorizeOptions Options)[]
        {
            ("plain SVD, uniform", new FactorizeOptions { Keep = keep, Method = FactorizeMethod.Svd, MinSpeedup = 0 }),
            ("whitened, uniform", new FactorizeOptions { Keep = keep, MinSpeedup = 0, Calibration = spec }),
            ("whitened, sensitivity", new FactorizeOptions { Keep = keep, Allocation = RankAllocation.Sensitivity, MinSpeedup = 0, Calibration = spec }),
            ("whitened, uniform, refit", new FactorizeOptions { Keep = keep, MinSpeedup = 0, Refit = true, Calibration = spec }),
        };
        if (Environment.GetEnvironmentVariable("FACTORIZE_ONLY") is { } only)
        {
            variants = variants.Where(v => v.Name.Contains(only, StringComparison.Ordinal)).ToArray();
        }

        var folder = Directory.CreateTempSubdirectory("factorize-bench-");
        try
        {
            foreach (var (name, options) in variants)
            {
                var context = new PassContext(new CollectingLog()) { DataSets = new Dictionary<string, IDataSource> { ["calibration"] = calibration } };
                var watch = Stopwatch.StartNew();
                var result = new FactorizePass().Run(ModelLoader.Load(model), options, context);
                var seconds = watch.Elapsed.TotalSeconds;
                var path = Path.Combine(folder.FullName, "lowrank.onnx");
                ModelWriter.Save(result.Model, path, new SaveOptions { Overwrite = true });
                var spearman = Evaluator.Evaluate(path, null, test, evaluation, new CollectingLog()).Reference.Task.Spearman!.Value * 100;
                var ratio = (double)new FileInfo(path).Length / new FileInfo(model).Length;
                var quantized = new QuantizePass().Run(ModelLoader.Load(path), new QuantizeOptions { Mode = QuantizationMode.WeightOnly, Bits = 4 }, context);
                var quantizedPath = Path.Combine(folder.FullName, "lowrank.int4.onnx");
                ModelWriter.Save(quantized.Model, quantizedPath, new SaveOptions { Overwrite = true });
                var quantizedSpearman = Evaluator.Evaluate(quantizedPath, null, test, evaluation, new CollectingLog()).Reference.Task.Spearman!.Value * 100;
                Console.WriteLine(FormattableString.Invariant(
                    $"| {name} | {seconds:F1} | {spearman:F2} | {ratio:F3}x | {quantizedSpearman:F2} | {new FileInfo(quantizedPath).Length / 1e6:F2} |"));
            }
        }
        finally
        {
            folder.Delete(recursive: true);
        }

        return 0;
    }
}
