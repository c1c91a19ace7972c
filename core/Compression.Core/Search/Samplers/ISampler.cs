using Compression.Core.Recipes.Search;

namespace Compression.Core.Search.Samplers;

/// <summary>
/// Proposes the next points to try from the trials so far. A sampler is a pure function of the history and the
/// random source it is given (seeded per batch), so a resumed or parallel search proposes exactly what a serial one does.
/// </summary>
internal interface ISampler
{
    /// <summary>Up to <paramref name="count"/> points not in <paramref name="tried"/>; fewer when the space is used up.</summary>
    IReadOnlyList<SearchConfig> Propose(int count, IReadOnlyList<Trial> history, IReadOnlySet<string> tried, Random random);
}

/// <summary>The samplers by strategy, and what they share.</summary>
internal static class Samplers
{
    public static ISampler For(SearchSpec spec, TrialRanking ranking)
    {
        ISampler sampler = spec.Strategy switch
        {
            SearchStrategy.Grid => new GridSampler(spec.Space),
            SearchStrategy.Random => new RandomSampler(spec.Space),
            SearchStrategy.Evolutionary => new EvolutionarySampler(spec.Space, ranking, Math.Max(4, 2 * spec.BatchSize)),
            _ => new TpeSampler(spec.Space, ranking, Math.Max(4, 2 * spec.BatchSize)),
        };
        return spec.Start == SearchStart.Sensitivity ? new SensitivityStart(spec.Space, ranking, sampler) : sampler;
    }

    /// <summary>A uniformly random coordinate of one dimension.</summary>
    public static double RandomCoordinate(SearchDimension dimension, Random random) =>
        dimension.IsContinuous ? random.NextDouble() : random.Next(dimension.Choices.Count);

    public static double[] RandomCoordinates(SearchSpace space, Random random) =>
        space.Dimensions.Select(d => RandomCoordinate(d, random)).ToArray();

    /// <summary>Adds random points until <paramref name="proposals"/> has <paramref name="count"/> or the attempts run out.</summary>
    public static void FillRandomly(SearchSpace space, List<SearchConfig> proposals, int count, IReadOnlySet<string> tried, Random random)
    {
        for (var attempt = 0; proposals.Count < count && attempt < 200 * count; attempt++)
        {
            TryAdd(space.Make(RandomCoordinates(space, random)), proposals, tried);
        }
    }

    public static bool TryAdd(SearchConfig config, List<SearchConfig> proposals, IReadOnlySet<string> tried)
    {
        if (tried.Contains(config.Key) || proposals.Any(p => p.Key == config.Key))
        {
            return false;
        }

        proposals.Add(config);
        return true;
    }
}

/// <summary>Every point in order, skipping those tried.</summary>
internal sealed class GridSampler(SearchSpace space) : ISampler
{
    public IReadOnlyList<SearchConfig> Propose(int count, IReadOnlyList<Trial> history, IReadOnlySet<string> tried, Random random) =>
        space.Enumerate().Where(c => !tried.Contains(c.Key)).Take(count).ToList();
}

/// <summary>Uniform random points, never one already tried.</summary>
internal sealed class RandomSampler(SearchSpace space) : ISampler
{
    public IReadOnlyList<SearchConfig> Propose(int count, IReadOnlyList<Trial> history, IReadOnlySet<string> tried, Random random)
    {
        var proposals = new List<SearchConfig>();
        Samplers.FillRandomly(space, proposals, count, tried, random);
        return proposals;
    }
}
