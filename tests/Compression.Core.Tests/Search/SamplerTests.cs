using System.Globalization;
using Compression.Core.Recipes;
using Compression.Core.Recipes.Search;
using Compression.Core.Search;
using Compression.Core.Search.Samplers;

namespace Compression.Core.Tests.Search;

/// <summary>The samplers on a synthetic objective (no model): they learn, never repeat a point, and are reproducible.</summary>
public sealed class SamplerTests
{
    private static SearchSpec Spec(string strategy, string start = "none")
    {
        var (recipe, diagnostics) = RecipeParser.Parse($$"""
            version: 1
            steps:
              - quantize: { mode: weight_only }
            search:
              space:
                quantize.block_size: [16, 32, 64, 128, 256]
                quantize.bits: [4, 8]
                quantize.layers[a].block_size: [16, 32, 64, 128, 256]
                quantize.layers[b].block_size: [16, 32, 64, 128, 256]
              constraints: ["size <= 5"]
              strategy: {{strategy}}
              start: {{start}}
              batch_size: 2
            """, "recipe.yaml", Path.GetTempPath());
        Assert.Empty(diagnostics);
        return recipe!.Search!;
    }

    /// <summary>A made-up size: smallest at block 128, bits 4, layer a 64, layer b 256 (0 there); the constraint needs it below 5.</summary>
    private static Trial Evaluate(int number, SearchConfig config) => new()
    {
        Number = number,
        Config = config,
        Values = new Dictionary<string, string>(),
        Metrics = new Dictionary<string, double>
        {
            ["size"] = Math.Abs(config.Coordinates[0] - 3) * 3 + config.Coordinates[1] * 4 + Math.Abs(config.Coordinates[2] - 2) * 2 + Math.Abs(config.Coordinates[3] - 4),
        },
    };

    private static List<Trial> Run(SearchSpec spec, int budget)
    {
        var ranking = new TrialRanking(spec.ParsedObjectives, spec.ParsedConstraints);
        var sampler = Samplers.For(spec, ranking);
        var trials = new List<Trial>();
        var tried = new HashSet<string>();
        for (var batch = 0; trials.Count < budget; batch++)
        {
            var proposals = sampler.Propose(Math.Min(2, budget - trials.Count), trials, tried, new Random(batch));
            if (proposals.Count == 0)
            {
                break;
            }

            foreach (var config in proposals)
            {
                Assert.True(tried.Add(config.Key), $"{config.Key} was proposed twice.");
                trials.Add(Evaluate(trials.Count + 1, config));
            }
        }

        return trials;
    }

    [Theory]
    [InlineData("tpe", 30, 1.0)]
    [InlineData("evolutionary", 30, 2.0)]
    public void Learning_strategies_beat_random_on_the_same_budget_and_repeat_exactly(string strategy, int budget, double best)
    {
        var learned = Run(Spec(strategy), budget);
        var random = Run(Spec("random"), budget);
        var learnedBest = learned.Min(t => t.Metrics["size"]);
        Assert.True(learnedBest <= best, $"{strategy} reached {learnedBest.ToString(CultureInfo.InvariantCulture)}.");
        Assert.True(learnedBest <= random.Min(t => t.Metrics["size"]));
        Assert.Equal(learned.Select(t => t.Config.Key), Run(Spec(strategy), budget).Select(t => t.Config.Key));
    }

    [Fact]
    public void Grid_goes_through_every_point_once_in_order()
    {
        var trials = Run(Spec("grid"), 1000);
        Assert.Equal(250, trials.Count);
        Assert.Equal("quantize.block_size=16; quantize.bits=4; quantize.layers[a].block_size=16; quantize.layers[b].block_size=16", trials[0].Config.Key);
        Assert.Equal("quantize.block_size=16; quantize.bits=4; quantize.layers[a].block_size=16; quantize.layers[b].block_size=32", trials[1].Config.Key);
    }

    [Fact]
    public void The_sensitivity_start_begins_at_the_first_values_probes_each_dimension_then_relaxes_the_most_sensitive_first()
    {
        var trials = Run(Spec("tpe", "sensitivity"), 8);
        Assert.Equal([0.0, 0, 0, 0], trials[0].Config.Coordinates);
        // Then each dimension alone at its other end (four probes, in two batches of two).
        Assert.Equal([4.0, 0, 0, 0], trials[1].Config.Coordinates);
        Assert.Equal([0.0, 1, 0, 0], trials[2].Config.Coordinates);
        Assert.Equal([0.0, 0, 4, 0], trials[3].Config.Coordinates);
        Assert.Equal([0.0, 0, 0, 4], trials[4].Config.Coordinates);
        // The probe of block_size removed most of the miss (size 21 -> 15), then layer b's (21 -> 17): relaxed together next.
        Assert.Equal([4.0, 0, 0, 4], trials[5].Config.Coordinates);
    }
}
