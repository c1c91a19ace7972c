using Compression.Core.Layers;

namespace Compression.Core.Factorization;

/// <summary>
/// Chooses each layer's split: from a <c>layers</c> entry, else the step's rank or energy, else its keep share, the
/// same for every layer (uniform) or shared among them (sensitivity). A split that saves no parameters leaves the
/// layer dense, with the reason.
/// </summary>
internal static class RankPlanner
{
    /// <summary>A layer's plan: the split, or null and why the layer stays dense.</summary>
    public sealed record Plan(LayerFactors Layer, FactorChoice? Choice, string? DenseReason);

    /// <summary>
    /// Each layer's plan. <paramref name="measure"/> gives the model's relative output error with one layer split
    /// alone (sensitivity allocation; null without calibration data).
    /// </summary>
    public static List<Plan> Choose(IReadOnlyList<LayerFactors> layers, FactorizeOptions options, Func<LayerFactors, FactorChoice, double>? measure,
        out IReadOnlyList<string> unmatchedLayers)
    {
        var rules = new NodeRules<LayerFactorSpec>(options.Layers);
        var plans = new Plan?[layers.Count];
        var pool = new List<int>();
        for (var i = 0; i < layers.Count; i++)
        {
            var layer = layers[i];
            var spec = rules.For(layer.Target.Node)?.Value;
            if (spec?.Keep == 1)
            {
                plans[i] = new Plan(layer, null, "its layers entry keeps it dense (keep: 1)");
                continue;
            }

            var choice = spec switch
            {
                { Keep: { } keep } => layer.ForKeep(keep, options.RoundTo),
                { Rank: { } rank } => layer.ForRank(rank),
                { Energy: { } energy } => layer.ForEnergy(energy, options.RoundTo),
                _ when options.Rank is { } rank => layer.ForRank(rank),
                _ when options.Energy is { } energy => layer.ForEnergy(energy, options.RoundTo),
                _ when options.Allocation == RankAllocation.Sensitivity => null,
                _ => layer.ForKeep(options.Keep ?? FactorizeOptions.DefaultKeep, options.RoundTo),
            };
            if (choice is null)
            {
                pool.Add(i);
                continue;
            }

            plans[i] = Checked(layer, choice);
        }

        if (pool.Count > 0)
        {
            var chosen = Sensitivity(pool.Select(i => layers[i]).ToList(), options.Keep ?? FactorizeOptions.DefaultKeep, options.RoundTo, measure);
            for (var p = 0; p < pool.Count; p++)
            {
                plans[pool[p]] = chosen[p] is { } choice
                    ? Checked(layers[pool[p]], choice)
                    : new Plan(layers[pool[p]], null, "sensitivity allocation keeps it dense: its output error grows fastest as its rank falls");
            }
        }

        unmatchedLayers = rules.Unmatched;
        return plans.Select(p => p!).ToList();
    }

    /// <summary>The plan of a choice, dense when the factors would hold as many parameters as the layer.</summary>
    private static Plan Checked(LayerFactors layer, FactorChoice choice)
    {
        var target = layer.Target;
        var parameters = choice.Parameters(target);
        if (parameters < target.Parameters && (choice.InputRank > 0 || choice.OutputRank > 0))
        {
            return new Plan(layer, choice, null);
        }

        var breakEven = Numerics.LowRankSpectrum.BreakEvenRank(target.Inputs, target.Outputs);
        return new Plan(layer, null, target.Kind == FactorKind.ConvTucker2
            ? choice.InputRank == 0 && choice.OutputRank == 0
                ? $"its input and output ranks would be its full {target.Channels} and {target.Outputs} channels: splitting saves nothing"
                : $"ranks {choice} (output rank {(choice.OutputRank > 0 ? choice.OutputRank : target.Outputs)}, input rank {(choice.InputRank > 0 ? choice.InputRank : target.Channels)}) hold {parameters:N0} parameters, no fewer than the layer's {target.Parameters:N0}: splitting saves nothing"
            : $"rank {choice} is not below {breakEven}, the break-even rank m*n/(m+n) of its [{target.Inputs}, {target.Outputs}] weight: splitting saves nothing");
    }

    /// <summary>
    /// The splits that keep <paramref name="keep"/> of the pooled layers' parameters with the least predicted error of
    /// the model's outputs. Each layer's cost at a rank is its spectrum's squared relative error scaled by how much the
    /// model's outputs move per unit of it, measured once per layer with the layer split alone at the uniform share
    /// (<paramref name="measure"/>; ASVD's sensitivity). Each layer then takes the candidate minimizing cost + lambda *
    /// parameters, and lambda is the smallest (bisected on a log scale) whose choices fit the budget. A null choice is
    /// the dense layer.
    /// </summary>
    private static FactorChoice?[] Sensitivity(List<LayerFactors> layers, double keep, int roundTo, Func<LayerFactors, FactorChoice, double>? measure)
    {
        var options = layers.Select(l =>
        {
            var scale = 1.0;
            if (measure is not null)
            {
                var probe = l.ForKeep(keep, roundTo);
                var predicted = l.PredictedError(probe);
                scale = predicted > 1e-9 ? measure(l, probe) / (predicted * predicted) : 0;
            }

            var candidates = l.Candidates(roundTo).Select(c => ((FactorChoice?)c.Choice, c.Parameters, c.ErrorSquared * scale)).ToList();
            candidates.Add((null, l.Target.Parameters, 0));
            return candidates;
        }).ToList();
        var budget = keep * layers.Sum(l => (double)l.Target.Parameters);

        FactorChoice?[] Pick(double lambda, out double total)
        {
            var picks = new FactorChoice?[options.Count];
            total = 0;
            for (var i = 0; i < options.Count; i++)
            {
                var best = double.PositiveInfinity;
                foreach (var (choice, parameters, errorSquared) in options[i])
                {
                    var cost = errorSquared + lambda * parameters;
                    if (cost < best)
                    {
                        best = cost;
                        picks[i] = choice;
                    }
                }

                total += picks[i]?.Parameters(layers[i].Target) ?? layers[i].Target.Parameters;
            }

            return picks;
        }

        double low = -40, high = 5; // log10 lambda
        var chosen = Pick(Math.Pow(10, high), out _);
        for (var iteration = 0; iteration < 80; iteration++)
        {
            var middle = (low + high) / 2;
            var picks = Pick(Math.Pow(10, middle), out var total);
            if (total <= budget)
            {
                chosen = picks;
                high = middle;
            }
            else
            {
                low = middle;
            }
        }

        return chosen;
    }
}
