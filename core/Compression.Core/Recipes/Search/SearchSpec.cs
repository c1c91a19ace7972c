using Compression.Core.Options;
using Compression.Core.Passes;

namespace Compression.Core.Recipes.Search;

/// <summary>How the search picks the next trials.</summary>
public enum SearchStrategy
{
    /// <summary>Every configuration in order (lists and stepped ranges only), until the budget ends.</summary>
    Grid,

    /// <summary>Uniform random configurations, seeded.</summary>
    Random,

    /// <summary>Tree-structured Parzen estimator: after a random start, sample where good trials were dense and bad ones were not.</summary>
    Tpe,

    /// <summary>Tournament selection, uniform crossover and mutation of the best trials: suits large per-layer spaces.</summary>
    Evolutionary,
}

/// <summary>How the search begins.</summary>
public enum SearchStart
{
    /// <summary>The strategy alone.</summary>
    None,

    /// <summary>
    /// Neural Compressor's basic strategy generalized: try every dimension at its start value (the most compressive),
    /// then each dimension alone at its other end to measure its sensitivity, then relax dimensions, most sensitive first,
    /// until the constraints hold; the strategy goes on from there.
    /// </summary>
    Sensitivity,
}

/// <summary>The <c>search</c> section: what to vary, what to optimize, what must hold, and how long to look.</summary>
public sealed record SearchSpec
{
    [Option("The data set (a name under data) trials are evaluated on; default evaluate.data. The chosen model is checked once more on evaluate.data, so keep that one held out.")]
    public string? Data { get; init; }

    [Option("What to optimize, by priority: 'minimize size', 'maximize accuracy', 'minimize latency_ms', ... (metrics in docs/search.md). The chosen model is the best feasible trial on the first, ties broken by the next.")]
    public IReadOnlyList<string> Objectives { get; init; } = ["minimize size"];

    [Option("What every chosen model must meet: 'accuracy_drop <= 0.002', 'spearman_drop <= 0.5', 'size <= 12 MB', 'latency_ms <= 2'.")]
    public IReadOnlyList<string> Constraints { get; init; } = [];

    [Option("How trials are chosen: grid, random, tpe (Bayesian), evolutionary.")]
    public SearchStrategy Strategy { get; init; } = SearchStrategy.Tpe;

    [Option("none, or sensitivity: start from every dimension's start value and relax the most sensitive dimensions first (see docs/search.md).")]
    public SearchStart Start { get; init; } = SearchStart.None;

    [Option("Seed of every random choice: the same seed gives the same trials.")]
    public int Seed { get; init; }

    [Option("How many trials, how long, and when to stop early.")]
    public SearchBudget Budget { get; init; } = new();

    [Option("Trials proposed together from the results before them. Results do not depend on parallel, only on this.", Minimum = 1, Maximum = 64)]
    public int BatchSize { get; init; } = 4;

    [Option("Trials evaluated at once (at most batch_size).", Minimum = 1, Maximum = 64)]
    public int Parallel { get; init; } = 1;

    [Option("Also write the models of the Pareto front (beside the output, named {name}.trial-N.onnx).")]
    public bool KeepFront { get; init; }

    /// <summary>The dimensions; bound by <see cref="SearchSpaceParser"/> (keys are paths into the steps).</summary>
    public SearchSpace Space { get; init; } = SearchSpace.Empty;

    /// <summary>Parsed <see cref="Objectives"/>; set by the parser.</summary>
    public IReadOnlyList<Objective> ParsedObjectives { get; init; } = [];

    /// <summary>Parsed <see cref="Constraints"/>; set by the parser.</summary>
    public IReadOnlyList<Constraint> ParsedConstraints { get; init; } = [];
}

/// <summary>The <c>search.budget</c> section.</summary>
public sealed record SearchBudget
{
    [Option("The most trials, those resumed from the journal included.")]
    public int Trials { get; init; } = 20;

    [Option("Stop starting batches after this many minutes (this makes the result depend on the machine's speed).")]
    public double? Minutes { get; init; }

    [Option("Stop when a trial meets the constraints and this many trials since have not improved the first objective.")]
    public int? Patience { get; init; }
}
