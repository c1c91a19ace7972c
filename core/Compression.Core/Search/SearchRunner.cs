using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Compression.Core.Diagnostics;
using Compression.Core.Evaluation;
using Compression.Core.Layers;
using Compression.Core.Onnx;
using Compression.Core.Options;
using Compression.Core.Pipeline;
using Compression.Core.Recipes;
using Compression.Core.Recipes.Search;
using Compression.Core.Reports;
using Compression.Core.Search.Samplers;

namespace Compression.Core.Search;

/// <summary>
/// Runs a search: the original measured once (or read from the journal), then batches of trials proposed by the
/// strategy from the finished ones, evaluated (in parallel up to search.parallel, identical to serial because a batch
/// depends only on the batches before it) and journaled; then the trials ranked, the Pareto front kept, the chosen
/// trial run through the pipeline to write, evaluate on the held-out data and gate the model, and the report written.
/// </summary>
public static class SearchRunner
{
    public static SearchPlan Plan(SearchRequest request)
    {
        var spec = SpecOf(request);
        var output = OutputPathFor(request);
        var journal = JournalPathFor(request, output);
        return new SearchPlan(Path.GetFullPath(request.ModelPath), output, journal,
            spec.Space.Dimensions.Select(d => $"{d.Name}: {(d.IsContinuous ? $"[{d.Range!.Min}, {d.Range.Max}]{(d.Range.Log ? " log" : "")}" : string.Join(", ", d.Choices.Select(c => c.Label)))}").ToList(),
            spec.Space.Size(), spec.Budget.Trials, spec.Strategy, spec.Start,
            spec.ParsedObjectives.Select(o => o.ToString()).ToList(), spec.ParsedConstraints.Select(c => c.Text).ToList(),
            spec.Data ?? request.Recipe.Evaluate?.Data,
            File.Exists(journal) ? Math.Max(0, File.ReadLines(journal).Count() - 1) : 0);
    }

    public static SearchResult Run(SearchRequest request, ICompressionLog log, CancellationToken cancellation = default)
    {
        var clock = Stopwatch.StartNew();
        var spec = SpecOf(request);
        var recipe = request.Recipe;
        var input = Path.GetFullPath(request.ModelPath);
        var output = OutputPathFor(request);
        if (!File.Exists(input))
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.ModelNotFound, "The model file does not exist.", input));
        }

        if (File.Exists(output) && !request.Force)
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.OutputExists, "The output file already exists; pass -Force to replace it.", output));
        }

        CheckNodePatterns(spec, input, recipe.File);

        var ranking = new TrialRanking(spec.ParsedObjectives, spec.ParsedConstraints);
        var metrics = spec.ParsedObjectives.Select(o => o.Metric).Concat(spec.ParsedConstraints.Select(c => c.Metric)).ToList();
        var dataSet = spec.Data ?? recipe.Evaluate?.Data;
        var compare = metrics.Any(m => m.Source == MetricSource.Fidelity);
        var sparsity = metrics.Any(m => m.Name == "sparsity"); // reads every weight: only when asked for
        var evaluation = EvaluationOf(recipe, dataSet, metrics);
        var journalPath = JournalPathFor(request, output);
        using var journal = TrialJournal.Open(journalPath, Context(input, recipe, dataSet, evaluation, compare, sparsity), log);

        var baseline = journal.Baseline;
        if (baseline is null)
        {
            log.Progress("Searching", "Measuring the original model", 0);
            baseline = TrialEvaluator.MeasureOriginal(input, recipe, dataSet, evaluation, sparsity, log, cancellation);
        }

        CheckProduced(metrics, baseline, dataSet, recipe.File);
        journal.WriteBaseline(baseline);

        var scratch = Directory.CreateTempSubdirectory("compression-search-");
        try
        {
            var evaluator = new TrialEvaluator(input, recipe, dataSet, evaluation, compare, sparsity, baseline, scratch.FullName);
            var previous = new Dictionary<string, JournalEntry>(StringComparer.Ordinal);
            foreach (var entry in journal.Entries)
            {
                if (spec.Space.KeyOf(entry.Values) is { } key)
                {
                    previous[key] = entry;
                }

                if (entry.ModelSha256 is { } sha && entry.Error is null)
                {
                    evaluator.Remember(sha, entry.Metrics);
                }
            }

            var (trials, stop) = Loop(spec, ranking, evaluator, previous, journal, log, cancellation, clock);
            return Finish(request, spec, ranking, trials, stop, baseline, input, output, journalPath, log, cancellation, clock);
        }
        finally
        {
            scratch.Delete(recursive: true);
        }
    }

    private static (List<Trial> Trials, string Stop) Loop(SearchSpec spec, TrialRanking ranking, TrialEvaluator evaluator, Dictionary<string, JournalEntry> previous,
        TrialJournal journal, ICompressionLog log, CancellationToken cancellation, Stopwatch clock)
    {
        var sampler = Samplers.Samplers.For(spec, ranking);
        var trials = new List<Trial>();
        var tried = new HashSet<string>(StringComparer.Ordinal);
        var parallel = Math.Min(spec.Parallel, spec.BatchSize);
        for (var batch = 0; ; batch++)
        {
            if (trials.Count >= spec.Budget.Trials)
            {
                return (trials, $"the budget of {spec.Budget.Trials} trials was used");
            }

            if (spec.Budget.Minutes is { } minutes && clock.Elapsed.TotalMinutes >= minutes)
            {
                return (trials, $"the time budget of {minutes} minutes ran out");
            }

            if (spec.Budget.Patience is { } patience && trials.Where(ranking.IsFeasible).Order(ranking).FirstOrDefault() is { } leader
                && trials.Count(t => t.Number > leader.Number) >= patience)
            {
                return (trials, $"no better trial in the {patience} after trial {leader.Number}");
            }

            var random = new Random(unchecked(spec.Seed * 1_000_003 + batch * 7_919 + 17));
            var proposals = sampler.Propose(Math.Min(spec.BatchSize, spec.Budget.Trials - trials.Count), trials, tried, random);
            if (proposals.Count == 0)
            {
                return (trials, "every configuration of the space was tried");
            }

            var numbered = proposals.Select((config, i) => (Number: trials.Count + i + 1, Config: config)).ToList();
            foreach (var (_, config) in numbered)
            {
                tried.Add(config.Key);
            }

            RunBatch(numbered, spec, evaluator, previous, journal, parallel, cancellation, trial =>
            {
                trials.Add(trial with { Feasible = ranking.IsFeasible(trial) });
                var best = trials.Where(ranking.IsFeasible).Order(ranking).FirstOrDefault();
                log.Progress("Searching", $"Trial {trial.Number} of {spec.Budget.Trials}; best so far: {(best is null ? "none meets the constraints" : Describe(best, ranking))}",
                    (double)trials.Count / spec.Budget.Trials);
                log.Verbose($"Trial {trial.Number}{(trial.Resumed ? " (from the journal)" : "")}: {string.Join(", ", trial.Values.Select(v => $"{v.Key}={v.Value}"))} -> " +
                    (trial.Error ?? $"{Figures(trial, ranking)}; {(ranking.IsFeasible(trial) ? "meets the constraints" : "misses " + string.Join(", ", Missed(trial, ranking)))}"));
            });
        }
    }

    /// <summary>
    /// Evaluates a batch: journaled trials are read back, the others run (up to <paramref name="parallel"/> at once) and
    /// are journaled as each finishes. <paramref name="finished"/> is called on this thread in trial order, as soon as
    /// a trial and all before it are done, so hosts can report each trial where they may write.
    /// </summary>
    private static void RunBatch(List<(int Number, SearchConfig Config)> batch, SearchSpec spec, TrialEvaluator evaluator, Dictionary<string, JournalEntry> previous,
        TrialJournal journal, int parallel, CancellationToken cancellation, Action<Trial> finished)
    {
        Trial Evaluate(int number, SearchConfig config)
        {
            if (previous.TryGetValue(config.Key, out var entry))
            {
                return new Trial
                {
                    Number = number, Config = config, Values = spec.Space.Labels(config), ModelSha256 = entry.ModelSha256,
                    Metrics = entry.Metrics, Error = entry.Error, Seconds = entry.Seconds, Resumed = true,
                };
            }

            var trial = evaluator.Run(number, config, spec.Space, cancellation);
            journal.Append(trial);
            return trial;
        }

        if (parallel <= 1)
        {
            foreach (var (number, config) in batch)
            {
                finished(Evaluate(number, config));
            }

            return;
        }

        using var slots = new SemaphoreSlim(parallel);
        var tasks = batch.Select(b => Task.Run(() =>
        {
            slots.Wait(cancellation);
            try
            {
                return Evaluate(b.Number, b.Config);
            }
            finally
            {
                slots.Release();
            }
        }, cancellation)).ToList();
        try
        {
            foreach (var task in tasks)
            {
                finished(task.GetAwaiter().GetResult());
            }
        }
        finally
        {
            // Never return while a trial still runs: it would write to a journal being closed.
            try
            {
                Task.WaitAll([.. tasks]);
            }
            catch (AggregateException)
            {
            }
        }
    }

    private static SearchResult Finish(SearchRequest request, SearchSpec spec, TrialRanking ranking, List<Trial> trials, string stop, IReadOnlyDictionary<string, double> baseline,
        string input, string output, string journalPath, ICompressionLog log, CancellationToken cancellation, Stopwatch clock)
    {
        var front = ranking.Front(trials).Select(t => t.Number).ToHashSet();
        trials = trials.Select(t => t with { OnFront = front.Contains(t.Number) }).ToList();
        var ranked = trials.Order(ranking).ToList();
        var chosen = ranked.FirstOrDefault(ranking.IsFeasible);
        var closest = chosen is null ? ranked.FirstOrDefault(t => t.Error is null) : null;
        var summary = chosen is not null
            ? $"Chose {Describe(chosen, ranking)} of {trials.Count} trials ({trials.Count(ranking.IsFeasible)} met the constraints); stopped because {stop}."
            : NothingMet(trials, closest, ranking, stop);

        CompressionResult? final = null;
        var frontModels = new List<string>();
        if (chosen is not null)
        {
            log.Progress("Searching", $"Writing the chosen model (trial {chosen.Number})", 1);
            var chosenRecipe = spec.Space.Apply(request.Recipe, chosen.Config) with { Search = null };
            final = CompressionPipeline.Run(new CompressionRequest(input, chosenRecipe) { OutputPath = output, Force = true }, log, cancellation);
            if (spec.KeepFront)
            {
                frontModels = WriteFront(trials.Where(t => t.OnFront && t.Number != chosen.Number), spec, request.Recipe, input, output, log, cancellation);
            }
        }
        else
        {
            log.Report(Diagnostic.Error(ErrorCodes.SearchNoFeasibleTrial, summary, request.Recipe.File));
        }

        var result = new SearchResult
        {
            InputPath = input,
            OutputPath = final?.OutputPath,
            Baseline = baseline,
            Trials = trials,
            Front = trials.Where(t => t.OnFront).ToList(),
            Chosen = chosen,
            Closest = closest,
            Summary = summary,
            Final = final,
            Objectives = spec.ParsedObjectives,
            Constraints = spec.ParsedConstraints,
            JournalPath = journalPath,
            Evaluated = trials.Count(t => !t.Resumed),
            Resumed = trials.Count(t => t.Resumed),
            StopReason = stop,
            FrontModels = frontModels,
            Duration = clock.Elapsed,
            ReportPath = output + ".search.json",
            PlotPath = output + ".search.html",
        };
        SearchReport.Write(result);
        return result;
    }

    private static List<string> WriteFront(IEnumerable<Trial> front, SearchSpec spec, Recipe recipe, string input, string output, ICompressionLog log, CancellationToken cancellation)
    {
        var written = new List<string>();
        foreach (var trial in front)
        {
            var trialRecipe = spec.Space.Apply(recipe, trial.Config);
            var dataSets = trialRecipe.Data.ToDictionary(d => d.Key, d => Data.DataSourceFactory.Create(d.Value with { Name = d.Value.Name ?? d.Key }, trialRecipe.BaseDirectory));
            var (model, _) = CompressionPipeline.RunSteps(input, ModelLoader.Load(input), trialRecipe, dataSets, new CollectingLog(), cancellation);
            var path = Path.Combine(Path.GetDirectoryName(output)!, $"{Path.GetFileNameWithoutExtension(output)}.trial-{trial.Number}.onnx");
            ModelWriter.Save(model, path, new SaveOptions { Overwrite = true });
            log.Verbose($"Front model of trial {trial.Number} written to {path}");
            written.Add(path);
        }

        return written;
    }

    /// <summary>"No trial met" with the closest trial named and what it missed, by how much.</summary>
    private static string NothingMet(List<Trial> trials, Trial? closest, TrialRanking ranking, string stop)
    {
        var text = new StringBuilder($"No trial met the constraints ({string.Join(", ", ranking.Constraints.Select(c => c.Text))}) in {trials.Count} trials; stopped because {stop}.");
        if (closest is null)
        {
            text.Append(" Every trial failed: see the errors in the journal.");
            return text.ToString();
        }

        text.Append(CultureInfo.InvariantCulture, $" The closest was trial {closest.Number} ({string.Join(", ", closest.Values.Select(v => $"{v.Key}={v.Value}"))}): it missed {string.Join("; ", Missed(closest, ranking))}.");
        text.Append(" Widen the space, relax a constraint or give more trials.");
        return text.ToString();
    }

    private static IEnumerable<string> Missed(Trial trial, TrialRanking ranking) =>
        ranking.Constraints.Where(c => !c.Holds(trial.Metric(c.Metric.Name))).Select(c =>
            $"{c.Text} with {(trial.Metric(c.Metric.Name) is { } v ? c.Metric.Format(v) : "no value (not measured)")}");

    internal static string Describe(Trial trial, TrialRanking ranking) => $"trial {trial.Number} ({Figures(trial, ranking)})";

    private static string Figures(Trial trial, TrialRanking ranking) => string.Join(", ",
        ranking.Objectives.Select(o => o.Metric).Concat(ranking.Constraints.Select(c => c.Metric)).DistinctBy(m => m.Name)
            .Select(m => $"{m.Name} {(trial.Metric(m.Name) is { } v ? m.Format(v) : "-")}"));

    private static void CheckProduced(IEnumerable<SearchMetric> metrics, IReadOnlyDictionary<string, double> baseline, string? dataSet, string? recipeFile)
    {
        var missing = metrics.DistinctBy(m => m.Name)
            .Where(m => m.Source switch
            {
                MetricSource.Fidelity => dataSet is null,
                _ => !baseline.ContainsKey(m.Name),
            })
            .Select(m => m.Name)
            .ToList();
        if (missing.Count > 0)
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.SearchMetricNotProduced,
                $"The search uses {string.Join(", ", missing)}, which the evaluation on '{dataSet}' does not produce (the original measured: {string.Join(", ", baseline.Keys.Order(StringComparer.Ordinal))}). " +
                "accuracy needs class labels, spearman sentence pairs with scores.", recipeFile));
        }
    }

    /// <summary>
    /// A node pattern in the space (<c>prune.layers[Conv_3]</c>, <c>quantize.exclude[Softmax]</c>) that matches no node
    /// of the model would make a dimension that changes nothing: refused with CMP4113 before any trial.
    /// </summary>
    private static void CheckNodePatterns(SearchSpec spec, string input, string? recipeFile)
    {
        var patterns = spec.Space.Dimensions.SelectMany(d => d.Paths)
            .SelectMany(p => p.Segments.Where(s => s.Key is not null && s.Property.GetCustomAttribute<NodePatternsAttribute>() is not null).Select(s => (Path: p, s.Key)))
            .ToList();
        if (patterns.Count == 0)
        {
            return;
        }

        var nodes = ModelLoader.Load(input, LoadOptions.MetadataOnly).MainGraph.AllNodes().Select(n => n.Node).ToList();
        var diagnostics = new List<Diagnostic>();
        foreach (var (path, key) in patterns)
        {
            var match = new Layers.NodeExclusions([key!]);
            if (!nodes.Any(match.Excludes))
            {
                var suggestion = OptionBinder.Suggest(key!, nodes.Select(n => n.Name).Where(n => n.Length > 0).Concat(nodes.Select(n => n.OpType)).Distinct(StringComparer.Ordinal));
                diagnostics.Add(Diagnostic.Error(ErrorCodes.SearchPatternUnmatched,
                    $"'{path.Text}': '{key}' matches no node of the model by name (wildcards * and ?) or op type, so this dimension would change nothing.{(suggestion is null ? "" : $" Did you mean '{suggestion}'?")}",
                    recipeFile, path.Position.Line, path.Position.Column));
            }
        }

        if (diagnostics.Count > 0)
        {
            throw new CompressionException(diagnostics);
        }
    }

    private static EvaluationOptions? EvaluationOf(Recipe recipe, string? dataSet, List<SearchMetric> metrics)
    {
        if (dataSet is null)
        {
            return null;
        }

        var options = (recipe.Evaluate?.ToOptions() ?? new EvaluationOptions()) with { Metrics = [] };
        return metrics.Any(m => m.Source == MetricSource.Latency)
            ? options with { Latency = options.Latency ?? new LatencyOptions() }
            : options with { Latency = null };
    }

    /// <summary>What makes a trial's result: the model, the steps, the data (files included) and how it is evaluated.</summary>
    private static string Context(string input, Recipe recipe, string? dataSet, EvaluationOptions? evaluation, bool compare, bool sparsity)
    {
        var text = new StringBuilder();
        text.Append(Sha256(input)).Append('\n');
        foreach (var step in recipe.Steps)
        {
            text.Append(step.Pass.Name).Append(JsonSerializer.Serialize(ReportWriter.OptionsOf(step.Options))).Append('\n');
        }

        foreach (var (name, spec) in recipe.Data.OrderBy(d => d.Key, StringComparer.Ordinal))
        {
            text.Append(name).Append(JsonSerializer.Serialize(spec)).Append('\n');
        }

        foreach (var (name, key, path) in recipe.DataFiles())
        {
            text.Append(name).Append(key).Append(Sha256(path)).Append('\n');
        }

        text.Append(dataSet).Append(JsonSerializer.Serialize(evaluation)).Append(compare).Append('\n');
        if (sparsity)
        {
            // Journals of searches without it (no sparsity measured) keep their hash.
            text.Append("sparsity\n");
        }

        return TrialJournal.Hash(text.ToString());
    }

    private static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexString(SHA256.HashData(stream)).ToLowerInvariant();
    }

    private static SearchSpec SpecOf(SearchRequest request)
    {
        var spec = request.Recipe.Search
            ?? throw new CompressionException(Diagnostic.Error(ErrorCodes.SearchSpaceEmpty, "The recipe has no search section: add 'search:' with a space, objectives and constraints (docs/search.md).", request.Recipe.File));
        if (request.Trials is < 1)
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.SearchBadBudget, $"The budget is {request.Trials} trials: the search needs at least one."));
        }

        if (request.Strategy == SearchStrategy.Grid && spec.Space.Dimensions.FirstOrDefault(d => d.IsContinuous) is { } continuous)
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.SearchGridNeedsSteps, $"The grid strategy needs finite dimensions; '{continuous.Name}' is a range without step.", request.Recipe.File));
        }

        return spec with
        {
            Budget = request.Trials is { } trials ? spec.Budget with { Trials = trials } : spec.Budget,
            Strategy = request.Strategy ?? spec.Strategy,
            Parallel = request.Parallel ?? spec.Parallel,
        };
    }

    private static string OutputPathFor(SearchRequest request) =>
        CompressionPipeline.OutputPathFor(new CompressionRequest(request.ModelPath, request.Recipe) { OutputPath = request.OutputPath });

    private static string JournalPathFor(SearchRequest request, string output) =>
        Path.GetFullPath(request.JournalPath ?? output + ".search.jsonl");
}
