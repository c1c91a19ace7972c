using Compression.Core.Recipes.Search;

namespace Compression.Core.Search.Samplers;

/// <summary>
/// Neural Compressor's "basic" strategy, for any dimensions: first every dimension at its start value (the most
/// compressive; the first value unless <c>start</c> says otherwise); if that misses the constraints, each dimension
/// alone at its other end, which measures how much relaxing it helps (its sensitivity); then the most sensitive
/// 2, 3, ... dimensions relaxed together, until a trial meets the constraints. From there the strategy goes on with
/// all those trials as its history. Each phase depends only on finished trials, so it is deterministic.
/// </summary>
internal sealed class SensitivityStart(SearchSpace space, TrialRanking ranking, ISampler strategy) : ISampler
{
    public IReadOnlyList<SearchConfig> Propose(int count, IReadOnlyList<Trial> history, IReadOnlySet<string> tried, Random random)
    {
        var dimensions = space.Dimensions;
        var start = space.Make(dimensions.Select(d => d.Start).ToArray());
        if (!tried.Contains(start.Key))
        {
            return [start];
        }

        var byKey = history.ToDictionary(t => t.Config.Key, StringComparer.Ordinal);
        if (history.Any(ranking.IsFeasible) || !byKey.TryGetValue(start.Key, out var startTrial))
        {
            return strategy.Propose(count, history, tried, random);
        }

        var relaxable = Enumerable.Range(0, dimensions.Count)
            .Where(d => !double.IsNaN(start.Coordinates[d]) && dimensions[d].Fallback != dimensions[d].Start)
            .ToList();
        var probes = relaxable.ToDictionary(d => d, d => Relaxed(start, [d]));
        var proposals = new List<SearchConfig>();
        foreach (var probe in probes.Values)
        {
            if (proposals.Count < count)
            {
                Samplers.TryAdd(probe, proposals, tried);
            }
        }

        if (proposals.Count > 0 || probes.Values.Any(p => !byKey.ContainsKey(p.Key)))
        {
            return proposals;
        }

        // Most sensitive first: relaxing it alone removed most of the start's violation; then the better objective.
        var startViolation = ranking.Violation(startTrial);
        var order = relaxable
            .OrderByDescending(d => startViolation - ranking.Violation(byKey[probes[d].Key]))
            .ThenBy(d => byKey[probes[d].Key], ranking)
            .ThenBy(d => d)
            .ToList();
        for (var k = 2; k <= order.Count && proposals.Count < count; k++)
        {
            Samplers.TryAdd(Relaxed(start, order.Take(k)), proposals, tried);
        }

        return proposals.Count > 0 ? proposals : strategy.Propose(count, history, tried, random);
    }

    private SearchConfig Relaxed(SearchConfig start, IEnumerable<int> relaxed)
    {
        var coordinates = start.Coordinates.ToArray();
        foreach (var d in relaxed)
        {
            coordinates[d] = space.Dimensions[d].Fallback;
        }

        return space.Make(coordinates);
    }
}
