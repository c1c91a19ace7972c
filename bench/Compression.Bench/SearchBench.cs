using System.Globalization;
using Compression.Core.Diagnostics;
using Compression.Core.Evaluation;
using Compression.Core.Recipes;
using Compression.Core.Search;

/// <summary>Runs a recipe's search and prints what docs/BENCHMARKS.md shows: the trials, the front, the choice, the held-out check.</summary>
internal static class SearchBench
{
    public static int Run(string model, string recipePath, string output)
    {
        var recipe = RecipeParser.Load(recipePath);
        var log = new ConsoleLog();
        var result = SearchRunner.Run(new SearchRequest(model, recipe) { OutputPath = output, Force = true }, log);
        Console.WriteLine();
        Console.WriteLine(result.Summary);
        Console.WriteLine(FormattableString.Invariant($"{result.Evaluated} trials evaluated, {result.Resumed} from the journal, {result.Duration.TotalMinutes:0.0} min"));
        Console.WriteLine();
        var metrics = result.Objectives.Select(o => o.Metric).Concat(result.Constraints.Select(c => c.Metric)).DistinctBy(m => m.Name).ToList();
        Console.WriteLine($"| trial | {string.Join(" | ", metrics.Select(m => m.Name))} | values |");
        Console.WriteLine($"| ---: | {string.Join(" | ", metrics.Select(_ => "---:"))} | --- |");
        foreach (var trial in result.Front)
        {
            Console.WriteLine($"| {trial.Number}{(trial.Number == result.Chosen?.Number ? " (chosen)" : "")} | {string.Join(" | ", metrics.Select(m => trial.Metric(m.Name) is { } v ? m.Format(v) : "-"))} | " +
                $"{string.Join(", ", trial.Values.Select(v => $"{v.Key}={v.Value}"))} |");
        }

        if (result.Final is { } final)
        {
            Console.WriteLine();
            Console.WriteLine(FormattableString.Invariant($"Chosen model: {final.OutputSizeBytes:N0} bytes; held-out '{final.Evaluation?.DataSet}': {(final.Evaluation is null ? "-" : SearchReport.Held(final.Evaluation))}"));
            foreach (var step in final.Steps)
            {
                Console.WriteLine($"{step.Name}: {step.Result}");
            }

            foreach (var gate in final.Gates)
            {
                Console.WriteLine(gate.Message);
            }
        }

        Console.WriteLine($"Report: {result.PlotPath}");
        return result.Chosen is null ? 1 : 0;
    }

    private sealed class ConsoleLog : ICompressionLog
    {
        public void Report(Diagnostic diagnostic) => Console.WriteLine(diagnostic.ToString());

        public void Verbose(string message)
        {
            if (message.StartsWith("Trial", StringComparison.Ordinal))
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[{DateTime.Now:HH:mm:ss}] {message}"));
            }
        }

        public void Progress(string activity, string status, double? fraction = null)
        {
        }
    }
}
