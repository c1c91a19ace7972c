using Compression.Core.Recipes.Search;
using Compression.Core.Search;

namespace Compression.Core.Tests.Search;

/// <summary>Which trial is chosen, which are on the front, and the order strategies learn from.</summary>
public sealed class TrialRankingTests
{
    private static readonly SearchMetric Size = SearchMetric.Find("size")!;
    private static readonly SearchMetric Drop = SearchMetric.Find("accuracy_drop")!;

    private static Trial Trial(int number, double size, double drop) => new()
    {
        Number = number,
        Config = new SearchConfig([number], $"t={number}"),
        Values = new Dictionary<string, string> { ["t"] = number.ToString(System.Globalization.CultureInfo.InvariantCulture) },
        Metrics = new Dictionary<string, double> { ["size"] = size, ["accuracy_drop"] = drop },
    };

    private static readonly TrialRanking Ranking = new([new Objective(Size, Minimize: true)], [new Constraint(Drop, AtMost: true, 0.002, "accuracy_drop <= 0.002")]);

    [Fact]
    public void Feasible_trials_come_first_by_objective_then_the_others_by_how_far_they_miss()
    {
        Trial[] trials = [Trial(1, 100, 0.001), Trial(2, 50, 0.010), Trial(3, 80, 0.002), Trial(4, 40, 0.003), Trial(5, 80, 0.0)];
        var order = trials.Order(Ranking).Select(t => t.Number).ToList();
        Assert.Equal([3, 5, 1, 4, 2], order);
    }

    [Fact]
    public void The_front_holds_the_trials_nothing_beats_on_size_and_drop_and_each_figure_once()
    {
        Trial[] trials = [Trial(1, 100, 0.0), Trial(2, 50, 0.010), Trial(3, 80, 0.002), Trial(4, 90, 0.002), Trial(5, 80, 0.002), Trial(6, 40, 0.02)];
        var front = Ranking.Front(trials).Select(t => t.Number).ToList();
        Assert.Equal([1, 2, 3, 6], front);
    }

    [Fact]
    public void A_failed_trial_is_never_chosen_nor_on_the_front()
    {
        var failed = Trial(9, 1, 0) with { Error = "CMP3202: bits" };
        Trial[] trials = [Trial(1, 100, 0.0), failed];
        Assert.Equal(1, trials.Order(Ranking).First().Number);
        Assert.DoesNotContain(Ranking.Front(trials), t => t.Number == 9);
        Assert.False(Ranking.IsFeasible(failed));
    }

    [Fact]
    public void Constraints_hold_at_the_limit_and_measure_relative_violation()
    {
        var constraint = new Constraint(Drop, AtMost: true, 0.002, "accuracy_drop <= 0.002");
        Assert.True(constraint.Holds(0.002));
        Assert.False(constraint.Holds(0.0021));
        Assert.False(constraint.Holds(null));
        Assert.Equal(0.5, constraint.Violation(0.003), 6);
        Assert.Equal(double.PositiveInfinity, constraint.Violation(null));
    }
}
