using Compression.Core.Recipes.Search;

namespace Compression.Core.Search;

/// <summary>
/// One evaluated trial: its number (the order it was proposed in), its values, the hash of the model it made, the
/// metrics measured on the search data, or the error that stopped it. Written as one journal line.
/// </summary>
public sealed record Trial
{
    public required int Number { get; init; }

    public required SearchConfig Config { get; init; }

    /// <summary>Each active dimension's value, by dimension name.</summary>
    public required IReadOnlyDictionary<string, string> Values { get; init; }

    /// <summary>SHA-256 of the model file the trial made; equal hashes share one evaluation.</summary>
    public string? ModelSha256 { get; init; }

    /// <summary>Metric values by name (size, accuracy, accuracy_drop, ...).</summary>
    public IReadOnlyDictionary<string, double> Metrics { get; init; } = new Dictionary<string, double>();

    /// <summary>Why the trial made no model (a step refused the options), or null.</summary>
    public string? Error { get; init; }

    public double Seconds { get; init; }

    /// <summary>Read back from the journal rather than evaluated in this run.</summary>
    public bool Resumed { get; init; }

    /// <summary>Whether every constraint holds (set when the search ranks the trials).</summary>
    public bool Feasible { get; init; }

    /// <summary>On the Pareto front of the objectives and constrained metrics.</summary>
    public bool OnFront { get; init; }

    public double? Metric(string name) => Metrics.TryGetValue(name, out var value) ? value : null;

    public override string ToString() => $"trial {Number} ({string.Join(", ", Values.Select(v => $"{v.Key}={v.Value}"))})";
}

/// <summary>
/// Orders trials from best to worst: those meeting every constraint first, by the objectives in priority order;
/// then the others by how far they miss (the sum of each constraint's relative violation); failed trials last;
/// ties by trial number, so the order never depends on timing.
/// </summary>
public sealed class TrialRanking(IReadOnlyList<Objective> objectives, IReadOnlyList<Constraint> constraints) : IComparer<Trial>
{
    public IReadOnlyList<Objective> Objectives { get; } = objectives;

    public IReadOnlyList<Constraint> Constraints { get; } = constraints;

    public bool IsFeasible(Trial trial) => trial.Error is null && Constraints.All(c => c.Holds(trial.Metric(c.Metric.Name)));

    public double Violation(Trial trial) => trial.Error is not null ? double.PositiveInfinity : Constraints.Sum(c => c.Violation(trial.Metric(c.Metric.Name)));

    public int Compare(Trial? x, Trial? y)
    {
        if (ReferenceEquals(x, y))
        {
            return 0;
        }

        if (x is null || y is null)
        {
            return x is null ? 1 : -1;
        }

        var failed = (x.Error is not null).CompareTo(y.Error is not null);
        if (failed != 0)
        {
            return failed;
        }

        var feasibleX = IsFeasible(x);
        var feasible = IsFeasible(y).CompareTo(feasibleX);
        if (feasible != 0)
        {
            return feasible;
        }

        if (!feasibleX)
        {
            var violation = Violation(x).CompareTo(Violation(y));
            if (violation != 0)
            {
                return violation;
            }
        }

        foreach (var objective in Objectives)
        {
            var a = x.Metric(objective.Metric.Name) is { } va ? objective.Cost(va) : double.PositiveInfinity;
            var b = y.Metric(objective.Metric.Name) is { } vb ? objective.Cost(vb) : double.PositiveInfinity;
            var order = a.CompareTo(b);
            if (order != 0)
            {
                return order;
            }
        }

        return x.Number.CompareTo(y.Number);
    }

    /// <summary>
    /// The trials no other trial beats on every axis: the objectives and the constrained metrics (accuracy against
    /// size, say). Of trials with equal figures only the first is kept. Failed trials are never on it.
    /// </summary>
    public IReadOnlyList<Trial> Front(IReadOnlyList<Trial> trials)
    {
        var axes = Objectives.Select(o => (o.Metric.Name, o.Minimize))
            .Concat(Constraints.Select(c => (c.Metric.Name, Minimize: c.AtMost)))
            .DistinctBy(a => a.Name)
            .ToList();
        var candidates = trials.Where(t => t.Error is null && axes.All(a => t.Metric(a.Name) is not null)).OrderBy(t => t.Number).ToList();
        double[] Costs(Trial t) => axes.Select(a => a.Minimize ? t.Metric(a.Name)!.Value : -t.Metric(a.Name)!.Value).ToArray();
        var costs = candidates.ToDictionary(t => t.Number, Costs);
        var front = new List<Trial>();
        foreach (var trial in candidates)
        {
            var mine = costs[trial.Number];
            var dominated = candidates.Any(other =>
            {
                if (other.Number == trial.Number)
                {
                    return false;
                }

                var theirs = costs[other.Number];
                var noWorse = true;
                var better = false;
                for (var i = 0; i < mine.Length; i++)
                {
                    noWorse &= theirs[i] <= mine[i];
                    better |= theirs[i] < mine[i];
                }

                // An identical earlier trial counts as better, so equal figures appear once.
                return noWorse && (better || other.Number < trial.Number);
            });
            if (!dominated)
            {
                front.Add(trial);
            }
        }

        return front;
    }
}
