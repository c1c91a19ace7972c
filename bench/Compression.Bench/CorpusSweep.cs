using System.Globalization;
using System.Text.Json;
using Compression.Core.Diagnostics;
using Compression.Core.Pipeline;
using Compression.Core.Recipes;

/// <summary>
/// Every sweep recipe (tests/fixtures/sweep: one step each, with the cmdlet's defaults) on every model of the export
/// corpus (tests/fixtures/corpus), through the pipeline the cmdlets run, with batch-1 one-thread latency of the
/// original and the result measured in the same run. One Markdown table for docs/BENCHMARKS.md: per model and step,
/// the top-1 change on 1,000 held-back Fashion-MNIST test images, the file ratio and the latency ratio.
///   corpus-sweep &lt;corpus folder&gt; &lt;sweep folder&gt; [model,model] [step,step]
/// </summary>
internal static class CorpusSweep
{
    public static int Run(string corpus, string sweep, string[] filters)
    {
        var models = JsonDocument.Parse(File.ReadAllText(Path.Combine(corpus, "corpus.json"))).RootElement.GetProperty("models").EnumerateObject()
            .Select(m => (Name: m.Name, Parameters: m.Value.GetProperty("parameters").GetInt64()))
            .Where(m => filters.Length < 1 || filters[0].Split(',').Contains(m.Name)).OrderBy(m => m.Name, StringComparer.Ordinal).ToList();
        var steps = Directory.EnumerateFiles(sweep, "*.yaml").Select(f => Path.GetFileNameWithoutExtension(f)!)
            .Where(s => filters.Length < 2 || filters[1].Split(',').Contains(s)).Order(StringComparer.Ordinal).ToList();
        var scratch = Directory.CreateTempSubdirectory("corpus-sweep-");
        Console.WriteLine($"Cells: top-1 change in points on 1,000 Fashion-MNIST test images · file ratio · latency ratio (batch 1, one thread); {Environment.ProcessorCount} cores.");
        Console.WriteLine();
        Console.WriteLine($"| model (parameters, fp32 top-1) | {string.Join(" | ", steps)} |");
        Console.WriteLine($"| --- |{string.Concat(steps.Select(_ => " ---: |"))}");
        try
        {
            foreach (var (name, parameters) in models)
            {
                var cells = new List<string>();
                double? fp32 = null;
                foreach (var step in steps)
                {
                    var recipe = RecipeParser.Load(Path.Combine(sweep, step + ".yaml"));
                    recipe = recipe with { Evaluate = recipe.Evaluate! with { Latency = new LatencySpec { Batch = 1, Threads = 1, Warmup = 10, Runs = 200 } } };
                    try
                    {
                        var result = CompressionPipeline.Run(new CompressionRequest(Path.Combine(corpus, name + ".onnx"), recipe)
                        {
                            OutputPath = Path.Combine(scratch.FullName, $"{name}.{step}.onnx"),
                            Force = true,
                        }, new CollectingLog());
                        var evaluation = result.Evaluation!;
                        fp32 = evaluation.Reference.Task.Top1;
                        var drop = (evaluation.Candidate!.Task.Top1!.Value - fp32!.Value) * 100;
                        var latency = evaluation.Candidate.Latency!.MedianMs / evaluation.Reference.Latency!.MedianMs;
                        cells.Add(string.Create(CultureInfo.InvariantCulture, $"{drop:+0.0;-0.0;0.0} · {result.SizeRatio:0.00}x · {latency:0.00}x"));
                    }
                    catch (CompressionException e)
                    {
                        cells.Add($"{e.Code}");
                    }
                }

                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} ({parameters / 1000.0:0.#} k, {fp32:0.0 %}) | {string.Join(" | ", cells)} |"));
            }
        }
        finally
        {
            scratch.Delete(recursive: true);
        }

        return 0;
    }
}
