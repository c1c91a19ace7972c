using Compression.Core.Recipes.Search;

namespace Compression.Core.Search.Samplers;

/// <summary>
/// Independent tree-structured Parzen estimator (Bergstra et al. 2011, as Optuna and Hyperopt do it): after a random
/// start, trials are split into the best quarter and the rest by <see cref="TrialRanking"/> (constraints first), each
/// dimension gets a density over the good ones, l(x), and over the others, g(x) (category counts with a uniform
/// prior; Gaussian kernels for ranges), and each value is the candidate, drawn from l, with the highest l(x)/g(x).
/// </summary>
internal sealed class TpeSampler(SearchSpace space, TrialRanking ranking, int startup) : ISampler
{
    private const double Gamma = 0.25;
    private const int Candidates = 24;

    public IReadOnlyList<SearchConfig> Propose(int count, IReadOnlyList<Trial> history, IReadOnlySet<string> tried, Random random)
    {
        var proposals = new List<SearchConfig>();
        var usable = history.Where(t => t.Error is null).ToList();
        if (usable.Count < startup)
        {
            Samplers.FillRandomly(space, proposals, count, tried, random);
            return proposals;
        }

        var ranked = history.Order(ranking).ToList();
        var goodCount = Math.Max(1, (int)Math.Ceiling(Gamma * ranked.Count));
        var good = ranked.Take(goodCount).ToList();
        var bad = ranked.Skip(goodCount).ToList();
        for (var attempt = 0; proposals.Count < count && attempt < 20 * count; attempt++)
        {
            var coordinates = new double[space.Dimensions.Count];
            for (var d = 0; d < coordinates.Length; d++)
            {
                coordinates[d] = Sample(space.Dimensions[d], d, good, bad, random);
            }

            Samplers.TryAdd(space.Make(coordinates), proposals, tried);
        }

        Samplers.FillRandomly(space, proposals, count, tried, random);
        return proposals;
    }

    private static double Sample(SearchDimension dimension, int d, List<Trial> good, List<Trial> bad, Random random)
    {
        var goodValues = good.Select(t => t.Config.Coordinates[d]).Where(v => !double.IsNaN(v)).ToList();
        var badValues = bad.Select(t => t.Config.Coordinates[d]).Where(v => !double.IsNaN(v)).ToList();
        if (!dimension.IsContinuous)
        {
            var k = dimension.Choices.Count;
            var l = Weights(goodValues, k);
            var g = Weights(badValues, k);
            var best = -1;
            var bestScore = double.NegativeInfinity;
            for (var c = 0; c < Candidates; c++)
            {
                var candidate = Draw(l, random);
                var score = l[candidate] / g[candidate];
                if (score > bestScore)
                {
                    (best, bestScore) = (candidate, score);
                }
            }

            return best;
        }

        var bestPoint = 0.0;
        var bestRatio = double.NegativeInfinity;
        var goodWidth = Bandwidth(goodValues.Count);
        for (var c = 0; c < Candidates; c++)
        {
            // Draw from the good mixture: a kernel around one good point, or the uniform prior.
            var pick = random.Next(goodValues.Count + 1);
            var point = pick == goodValues.Count ? random.NextDouble() : Math.Clamp(goodValues[pick] + goodWidth * Normal(random), 0, 1);
            var ratio = Density(point, goodValues) / Density(point, badValues);
            if (ratio > bestRatio)
            {
                (bestPoint, bestRatio) = (point, ratio);
            }
        }

        return bestPoint;
    }

    /// <summary>Category probabilities: counts plus one for each category (a uniform prior), normalized.</summary>
    private static double[] Weights(List<double> values, int k)
    {
        var weights = Enumerable.Repeat(1.0, k).ToArray();
        foreach (var value in values)
        {
            weights[(int)value] += 1;
        }

        var total = weights.Sum();
        for (var i = 0; i < k; i++)
        {
            weights[i] /= total;
        }

        return weights;
    }

    private static int Draw(double[] weights, Random random)
    {
        var u = random.NextDouble();
        for (var i = 0; i < weights.Length; i++)
        {
            u -= weights[i];
            if (u <= 0)
            {
                return i;
            }
        }

        return weights.Length - 1;
    }

    private static double Bandwidth(int n) => Math.Clamp(1.0 / Math.Pow(Math.Max(1, n), 0.2) * 0.3, 0.05, 0.3);

    /// <summary>A Parzen density on [0, 1]: Gaussian kernels around the points plus a uniform prior of equal weight.</summary>
    private static double Density(double x, List<double> points)
    {
        var width = Bandwidth(points.Count);
        var sum = 1.0;
        foreach (var p in points)
        {
            var z = (x - p) / width;
            sum += Math.Exp(-0.5 * z * z) / (width * Math.Sqrt(2 * Math.PI));
        }

        return sum / (points.Count + 1);
    }

    private static double Normal(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
