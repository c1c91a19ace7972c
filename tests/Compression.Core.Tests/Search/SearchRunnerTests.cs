using Compression.Core.Diagnostics;
using Compression.Core.Recipes;
using Compression.Core.Search;
using Compression.Core.Tests.Support;

namespace Compression.Core.Tests.Search;

/// <summary>
/// Searches on mnist-8 with a small slice of the MNIST test set (fast): a killed search resumes to the same choice,
/// parallel trials equal serial ones, a search that cannot succeed says what came closest.
/// </summary>
public sealed class SearchRunnerTests : IDisposable
{
    private readonly string folder = TestAssets.TempDirectory();

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private Recipe Recipe(string strategy = "tpe", int trials = 10, int parallel = 1, string constraint = "accuracy_drop <= 0.002", bool keepFront = false)
    {
        var mnist = Path.Combine(TestAssets.SharedAssets, "mnist");
        TestAssets.Require(Path.Combine(mnist, "t10k-images-idx3-ubyte.gz"), "MNIST test images");
        var text = $$"""
            version: 1
            data:
              search: { format: idx, path: {{mnist}}/t10k-images-idx3-ubyte.gz, labels: {{mnist}}/t10k-labels-idx1-ubyte.gz, take: 500 }
              held_out: { format: idx, path: {{mnist}}/t10k-images-idx3-ubyte.gz, labels: {{mnist}}/t10k-labels-idx1-ubyte.gz, skip: 5000, take: 500 }
            steps:
              - quantize: { mode: dynamic, format: qdq, calibration: { data: search, samples: 32 } }
            evaluate: { data: held_out, metrics: [accuracy] }
            search:
              data: search
              space:
                quantize.mode: [dynamic, static, weight_only]
                quantize.per_channel: [false, true]
                quantize.calibration.method: { values: [min_max, percentile, mse], when: { quantize.mode: static } }
                quantize.exclude[Plus214]: { values: [false, true], when: { quantize.mode: static } }
              objectives: [minimize size, maximize accuracy]
              constraints: ["{{constraint}}"]
              strategy: {{strategy}}
              batch_size: 2
              parallel: {{parallel}}
              seed: 7
              budget: { trials: {{trials}} }
              keep_front: {{(keepFront ? "true" : "false")}}
            output: "{name}.searched.onnx"
            """;
        var (recipe, diagnostics) = RecipeParser.Parse(text, Path.Combine(folder, "recipe.yaml"), folder);
        Assert.Empty(diagnostics);
        return recipe!;
    }

    private SearchResult Search(Recipe recipe, string name, ICompressionLog? log = null, CancellationToken cancellation = default) =>
        SearchRunner.Run(new SearchRequest(TestAssets.Require(TestAssets.Mnist, "mnist-8"), recipe)
        {
            OutputPath = Path.Combine(folder, name + ".onnx"),
            Force = true,
        }, log ?? new CollectingLog(), cancellation);

    [SkippableFact]
    public void A_killed_search_resumes_from_its_journal_and_chooses_the_same_model()
    {
        var recipe = Recipe();
        var whole = Search(recipe, "whole");

        // Cancel (Ctrl+C) after the fourth trial, then cut the journal's last line in half as a killed process would.
        using var cancel = new CancellationTokenSource();
        var stopper = new StopAfter(4, cancel);
        Assert.ThrowsAny<OperationCanceledException>(() => Search(recipe, "resumed", stopper, cancel.Token));
        var journal = Path.Combine(folder, "resumed.onnx.search.jsonl");
        var lines = File.ReadAllLines(journal);
        Assert.Equal(5, lines.Length);
        File.WriteAllText(journal, string.Join("\n", lines) + "\n" + lines[^1][..(lines[^1].Length / 2)]);

        var resumed = Search(recipe, "resumed");

        Assert.Equal(whole.Trials.Select(t => t.Config.Key), resumed.Trials.Select(t => t.Config.Key));
        Assert.Equal(whole.Chosen!.Config.Key, resumed.Chosen!.Config.Key);
        Assert.Equal(4, resumed.Resumed);
        Assert.Equal(whole.Trials.Count - 4, resumed.Evaluated);
        Assert.Equal(File.ReadAllBytes(whole.OutputPath!), File.ReadAllBytes(resumed.OutputPath!));

        // A third run evaluates nothing.
        var again = Search(recipe, "resumed");
        Assert.Equal(0, again.Evaluated);
        Assert.Equal(whole.Chosen.Config.Key, again.Chosen!.Config.Key);
    }

    [SkippableFact]
    public void Parallel_trials_give_exactly_the_serial_search()
    {
        var serial = Search(Recipe(strategy: "evolutionary", trials: 8), "serial");
        var parallel = Search(Recipe(strategy: "evolutionary", trials: 8, parallel: 2), "parallel");

        Assert.Equal(serial.Trials.Select(t => t.Config.Key), parallel.Trials.Select(t => t.Config.Key));
        Assert.Equal(serial.Trials.Select(t => t.ModelSha256), parallel.Trials.Select(t => t.ModelSha256));
        Assert.Equal(serial.Trials.Select(t => t.Metric("accuracy")), parallel.Trials.Select(t => t.Metric("accuracy")));
        Assert.Equal(serial.Chosen!.Number, parallel.Chosen!.Number);
    }

    [SkippableFact]
    public void When_no_trial_meets_the_constraints_the_search_says_so_and_names_the_closest_trial()
    {
        var log = new CollectingLog();
        var result = Search(Recipe(strategy: "grid", trials: 4, constraint: "size <= 5 KB"), "none", log);

        Assert.Null(result.Chosen);
        Assert.Null(result.OutputPath);
        Assert.False(File.Exists(Path.Combine(folder, "none.onnx")));
        var closest = Assert.IsType<Trial>(result.Closest);
        Assert.Equal(result.Trials.MinBy(t => t.Metric("size"))!.Number, closest.Number);
        var error = Assert.Single(log.Diagnostics, d => d.Code == ErrorCodes.SearchNoFeasibleTrial);
        Assert.Contains("No trial met the constraints (size <= 5 KB) in 4 trials", error.Message, StringComparison.Ordinal);
        Assert.Contains($"The closest was trial {closest.Number}", error.Message, StringComparison.Ordinal);
        Assert.Contains("it missed size <= 5 KB with", error.Message, StringComparison.Ordinal);
        Assert.True(File.Exists(result.PlotPath));
    }

    [Fact]
    public void Minimizing_MACs_chooses_the_sparsest_structured_pruning_that_meets_the_MACs_limit()
    {
        var text = """
            steps:
              - prune: { method: structured, sparsity: 0.25 }
            search:
              space:
                prune.sparsity: [0.25, 0.5, 0.75]
              objectives: [minimize macs]
              constraints: ["macs_ratio >= 0.4"]
              strategy: grid
              budget: { trials: 3 }
            """;
        var (recipe, diagnostics) = RecipeParser.Parse(text, Path.Combine(folder, "recipe.yaml"), folder);
        Assert.Empty(diagnostics);

        var result = SearchRunner.Run(new SearchRequest(Path.Combine(TestAssets.Corpus, "mlp_gemm.onnx"), recipe!)
        {
            OutputPath = Path.Combine(folder, "macs.onnx"),
        }, new CollectingLog());

        Assert.Equal(784 * 160 + 160 * 96 + 96 * 10, result.Baseline["macs"]);
        // 0.75 keeps 40 and 24 neurons, under 40 % of the MACs; 0.5 keeps 80 and 48: 47.29 %.
        Assert.Equal(784 * 80 + 80 * 48 + 48 * 10, result.Chosen!.Metric("macs"));
        Assert.Equal(result.Chosen.Metric("macs") / result.Baseline["macs"], result.Chosen.Metric("macs_ratio"));
        Assert.Equal(result.Chosen.Metric("macs"), result.Final!.OutputMacs.Macs);
    }

    [SkippableFact]
    public void A_metric_the_evaluation_does_not_produce_is_refused_before_any_trial()
    {
        var error = Assert.Throws<CompressionException>(() => Search(Recipe(constraint: "spearman_drop <= 0.5"), "spearman"));
        Assert.Equal(ErrorCodes.SearchMetricNotProduced, error.Diagnostics[0].Code);
        Assert.Contains("spearman_drop", error.Diagnostics[0].Message, StringComparison.Ordinal);
        var journal = Path.Combine(folder, "spearman.onnx.search.jsonl");
        Assert.Empty(File.ReadAllLines(journal));
    }

    [SkippableFact]
    public void The_report_draws_the_front_and_marks_the_chosen_point_and_the_front_models_are_kept_on_request()
    {
        var result = Search(Recipe(strategy: "random", trials: 6, keepFront: true), "report");
        var html = File.ReadAllText(result.PlotPath!);
        Assert.Contains("<svg", html, StringComparison.Ordinal);
        Assert.Contains($"chosen: trial {result.Chosen!.Number}", html, StringComparison.Ordinal);
        Assert.Contains("accuracy_drop &lt;= 0.002", html, StringComparison.Ordinal);
        Assert.Equal(result.Trials.Count, html.Split("<tr class=").Length - 1);
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(result.ReportPath!))!;
        Assert.Equal(result.Chosen.Number, json["chosen"]!["trial"]!.GetValue<int>());
        Assert.Equal(result.Front.Count, json["front"]!.AsArray().Count);
        Assert.NotNull(json["final"]!["after"]);
        Assert.Equal(result.Front.Where(t => t.Number != result.Chosen.Number).Select(t => Path.Combine(folder, $"report.trial-{t.Number}.onnx")), result.FrontModels);
        Assert.All(result.FrontModels, path => Assert.True(File.Exists(path)));
    }

    /// <summary>Cancels the search once the given number of trials were reported, as Ctrl+C would.</summary>
    private sealed class StopAfter(int trials, CancellationTokenSource cancel) : ICompressionLog
    {
        private int seen;

        public void Report(Diagnostic diagnostic)
        {
        }

        public void Verbose(string message)
        {
            if (message.StartsWith("Trial ", StringComparison.Ordinal) && ++seen == trials)
            {
                cancel.Cancel();
            }
        }

        public void Progress(string activity, string status, double? fraction = null)
        {
        }
    }
}
