using Compression.Core.Recipes.Search;

namespace Compression.Core.Search.Samplers;

/// <summary>
/// A steady-state genetic search for large per-layer spaces: the best <c>population</c> trials (by
/// <see cref="TrialRanking"/>) are parents; each child takes every value from one of two tournament winners, then
/// each value mutates with probability max(1/dimensions, 0.1) (a new choice, or a Gaussian step within a range).
/// </summary>
internal sealed class EvolutionarySampler(SearchSpace space, TrialRanking ranking, int population) : ISampler
{
    public IReadOnlyList<SearchConfig> Propose(int count, IReadOnlyList<Trial> history, IReadOnlySet<string> tried, Random random)
    {
        var proposals = new List<SearchConfig>();
        var usable = history.Where(t => t.Error is null).ToList();
        if (usable.Count < population)
        {
            Samplers.FillRandomly(space, proposals, count, tried, random);
            return proposals;
        }

        var parents = usable.Order(ranking).Take(population).ToList();
        var dimensions = space.Dimensions;
        var rate = Math.Max(1.0 / dimensions.Count, 0.1);
        for (var attempt = 0; proposals.Count < count && attempt < 50 * count; attempt++)
        {
            var a = Tournament(parents, random);
            var b = Tournament(parents, random);
            var child = new double[dimensions.Count];
            var mutated = false;
            for (var d = 0; d < child.Length; d++)
            {
                var value = (random.Next(2) == 0 ? a : b).Config.Coordinates[d];
                if (double.IsNaN(value))
                {
                    value = Samplers.RandomCoordinate(dimensions[d], random);
                }

                if (random.NextDouble() < rate)
                {
                    value = Mutate(dimensions[d], value, random);
                    mutated = true;
                }

                child[d] = value;
            }

            if (!mutated)
            {
                var d = random.Next(child.Length);
                child[d] = Mutate(dimensions[d], child[d], random);
            }

            Samplers.TryAdd(space.Make(child), proposals, tried);
        }

        Samplers.FillRandomly(space, proposals, count, tried, random);
        return proposals;
    }

    private Trial Tournament(List<Trial> parents, Random random)
    {
        var x = parents[random.Next(parents.Count)];
        var y = parents[random.Next(parents.Count)];
        return ranking.Compare(x, y) <= 0 ? x : y;
    }

    private static double Mutate(SearchDimension dimension, double value, Random random)
    {
        if (dimension.IsContinuous)
        {
            var step = 0.15 * Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
            return Math.Clamp(value + step, 0, 1);
        }

        if (dimension.Choices.Count < 2)
        {
            return value;
        }

        var other = random.Next(dimension.Choices.Count - 1);
        return other >= value ? other + 1 : other;
    }
}
