using Compression.Core.Pipeline;
using Compression.Core.Recipes;
using Compression.Core.Recipes.Search;

namespace Compression.Core.Search;

/// <summary>A request to search a model's compression with a recipe that has a <c>search</c> section.</summary>
public sealed record SearchRequest(string ModelPath, Recipe Recipe)
{
    /// <summary>Where the chosen model goes; default the recipe's output name.</summary>
    public string? OutputPath { get; init; }

    public bool Force { get; init; }

    /// <summary>The trial journal; default beside the output, <c>{output}.search.jsonl</c>.</summary>
    public string? JournalPath { get; init; }

    /// <summary>Overrides search.budget.trials.</summary>
    public int? Trials { get; init; }

    /// <summary>Overrides search.strategy.</summary>
    public SearchStrategy? Strategy { get; init; }

    /// <summary>Overrides search.parallel.</summary>
    public int? Parallel { get; init; }
}

/// <summary>What a search would do: for -WhatIf and the task's plan.</summary>
public sealed record SearchPlan(string InputPath, string OutputPath, string JournalPath, IReadOnlyList<string> Dimensions, long? SpaceSize,
    int Trials, SearchStrategy Strategy, SearchStart Start, IReadOnlyList<string> Objectives, IReadOnlyList<string> Constraints, string? DataSet, int ResumableTrials)
{
    public override string ToString() =>
        $"{Dimensions.Count} dimension(s), {(SpaceSize is { } n ? $"{n:N0} configurations" : "continuous")}; budget {Trials} trial(s), {Strategy.ToString().ToLowerInvariant()}" +
        $"{(Start == SearchStart.Sensitivity ? " with a sensitivity start" : "")}; {ResumableTrials} already in the journal";
}

/// <summary>The outcome of a search: every trial, the Pareto front, the chosen trial and the model written from it.</summary>
public sealed class SearchResult
{
    public required string InputPath { get; init; }

    /// <summary>Where the chosen model was written; null when no trial met the constraints or a gate failed.</summary>
    public string? OutputPath { get; init; }

    /// <summary>The original's metrics on the search data.</summary>
    public required IReadOnlyDictionary<string, double> Baseline { get; init; }

    public required IReadOnlyList<Trial> Trials { get; init; }

    /// <summary>The trials no other beats on every objective and constrained metric.</summary>
    public required IReadOnlyList<Trial> Front { get; init; }

    /// <summary>The best trial that meets every constraint, by the objectives' priority; null when none does.</summary>
    public Trial? Chosen { get; init; }

    /// <summary>When no trial met the constraints: the one that missed by least.</summary>
    public Trial? Closest { get; init; }

    /// <summary>What happened, in a sentence or two: the choice, or that nothing met the constraints and what the closest missed.</summary>
    public required string Summary { get; init; }

    /// <summary>The chosen model's run through the pipeline: evaluated on evaluate.data (held out from the search), gated, reported.</summary>
    public CompressionResult? Final { get; init; }

    public required IReadOnlyList<Objective> Objectives { get; init; }

    public required IReadOnlyList<Constraint> Constraints { get; init; }

    public required string JournalPath { get; init; }

    public string? ReportPath { get; init; }

    public string? PlotPath { get; init; }

    /// <summary>Trials evaluated in this run (the rest came from the journal).</summary>
    public int Evaluated { get; init; }

    /// <summary>Trials read back from the journal.</summary>
    public int Resumed { get; init; }

    /// <summary>Why the search stopped: budget, patience, time, or the space was used up.</summary>
    public required string StopReason { get; init; }

    /// <summary>Models of the front written on request (search.keep_front).</summary>
    public IReadOnlyList<string> FrontModels { get; init; } = [];

    public required TimeSpan Duration { get; init; }
}
