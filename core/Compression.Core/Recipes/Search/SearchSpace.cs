using System.Globalization;
using System.Text;
using Compression.Core.Recipes;

namespace Compression.Core.Recipes.Search;

/// <summary>One value a dimension can take: the text it reads as in recipes and journals, and the bound option value.</summary>
public sealed record SearchChoice(string Label, object? Value);

/// <summary>A continuous range (a range without step): sampled by random, TPE and evolution, refused by grid.</summary>
public sealed record SearchRange(double Min, double Max, bool Log, bool Integer)
{
    /// <summary>A point of [0, 1] mapped into the range (log-scaled when asked), rounded for whole-number options.</summary>
    public double At(double unit)
    {
        var value = Log ? Math.Exp(Math.Log(Min) + unit * (Math.Log(Max) - Math.Log(Min))) : Min + unit * (Max - Min);
        value = Math.Clamp(value, Min, Max);
        return Integer ? Math.Round(value) : value;
    }

    /// <summary>Where a value sits in [0, 1].</summary>
    public double UnitOf(double value) => Max == Min ? 0 : Log
        ? (Math.Log(value) - Math.Log(Min)) / (Math.Log(Max) - Math.Log(Min))
        : (value - Min) / (Max - Min);
}

/// <summary>A dimension is active only while another takes one of some values (a conditional choice).</summary>
public sealed record SearchCondition(int Dimension, IReadOnlySet<int> Choices);

/// <summary>
/// One axis of the space: the option paths it sets (several for a tied group of layers), its values (a list, or a
/// stepped range made into a list) or a continuous range, an optional condition, and where the sensitivity start
/// begins (<see cref="Start"/>, default the first value or min) and falls back to (the other end). The <c>order</c>
/// dimension sets no option: its values are orders of the recipe's steps (the steps' indices, in running order).
/// </summary>
public sealed record SearchDimension(string Name, IReadOnlyList<OptionPath> Paths, IReadOnlyList<SearchChoice> Choices, SearchRange? Range, SearchCondition? When)
{
    /// <summary>Whether the values reorder the steps instead of setting an option.</summary>
    public bool IsOrder => Paths.Count == 0;

    /// <summary>Index of the start value in <see cref="Choices"/>, or, for a range, its unit position (0 = min).</summary>
    public double Start { get; init; }

    public bool IsContinuous => Range is not null;

    /// <summary>The other end from <see cref="Start"/>.</summary>
    public double Fallback => IsContinuous ? (Start < 0.5 ? 1 : 0) : (Start == 0 ? Choices.Count - 1 : 0);

    /// <summary>The label of a coordinate: a choice's text, or a range value's number.</summary>
    public string Label(double coordinate) => IsContinuous
        ? Range!.At(coordinate).ToString("R", CultureInfo.InvariantCulture)
        : Choices[(int)coordinate].Label;

    /// <summary>The option value of a coordinate.</summary>
    public object? Value(double coordinate)
    {
        if (!IsContinuous)
        {
            return Choices[(int)coordinate].Value;
        }

        var value = Range!.At(coordinate);
        var type = Nullable.GetUnderlyingType(Paths[0].ValueType) ?? Paths[0].ValueType;
        return type == typeof(int) ? (object)(int)value : type == typeof(long) ? (long)value : value;
    }
}

/// <summary>
/// A point of the space: per dimension a choice index or, for a continuous range, a unit position in [0, 1];
/// NaN where a condition switches the dimension off. Its key (the labels) identifies a trial in the journal.
/// </summary>
public sealed record SearchConfig(IReadOnlyList<double> Coordinates, string Key)
{
    public bool Equals(SearchConfig? other) => other is not null && other.Key == Key;

    public override int GetHashCode() => Key.GetHashCode(StringComparison.Ordinal);
}

/// <summary>The dimensions of a search and what can be done with a point: key it, label it, apply it to a recipe.</summary>
public sealed class SearchSpace(IReadOnlyList<SearchDimension> dimensions)
{
    public static SearchSpace Empty { get; } = new([]);

    public IReadOnlyList<SearchDimension> Dimensions { get; } = dimensions;

    /// <summary>Whether a dimension is switched on at this point (its condition's dimension is on and takes one of the values).</summary>
    public bool IsActive(IReadOnlyList<double> coordinates, int dimension)
    {
        var when = Dimensions[dimension].When;
        return when is null || (IsActive(coordinates, when.Dimension) && !double.IsNaN(coordinates[when.Dimension]) && when.Choices.Contains((int)coordinates[when.Dimension]));
    }

    /// <summary>Makes a point from raw coordinates: inactive dimensions become NaN, so equal models get equal keys.</summary>
    public SearchConfig Make(IReadOnlyList<double> coordinates)
    {
        var values = coordinates.ToArray();
        for (var i = 0; i < values.Length; i++)
        {
            if (!IsActive(values, i))
            {
                values[i] = double.NaN;
            }
        }

        var key = new StringBuilder();
        for (var i = 0; i < values.Length; i++)
        {
            if (!double.IsNaN(values[i]))
            {
                key.Append(key.Length == 0 ? "" : "; ").Append(Dimensions[i].Name).Append('=').Append(Dimensions[i].Label(values[i]));
            }
        }

        return new SearchConfig(values, key.ToString());
    }

    /// <summary>The chosen value of each active dimension, by dimension name.</summary>
    public IReadOnlyDictionary<string, string> Labels(SearchConfig config)
    {
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < Dimensions.Count; i++)
        {
            if (!double.IsNaN(config.Coordinates[i]))
            {
                labels[Dimensions[i].Name] = Dimensions[i].Label(config.Coordinates[i]);
            }
        }

        return labels;
    }

    /// <summary>
    /// The key of the point with these labels (a journal line), built from the labels as written so that a range value
    /// read back matches its trial exactly; null when a label names no dimension of the space.
    /// </summary>
    public string? KeyOf(IReadOnlyDictionary<string, string> labels)
    {
        if (labels.Keys.Any(name => Dimensions.All(d => d.Name != name)))
        {
            return null;
        }

        return string.Join("; ", Dimensions.Where(d => labels.ContainsKey(d.Name)).Select(d => $"{d.Name}={labels[d.Name]}"));
    }

    /// <summary>How many points there are (conditions counted), or null when a dimension is continuous.</summary>
    public long? Size()
    {
        if (Dimensions.Any(d => d.IsContinuous))
        {
            return null;
        }

        long count = 0;
        foreach (var _ in Enumerate())
        {
            count++;
            if (count >= 100_000_000)
            {
                break;
            }
        }

        return count;
    }

    /// <summary>Every distinct point of a finite space, the last dimension changing fastest.</summary>
    public IEnumerable<SearchConfig> Enumerate()
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var indices = new double[Dimensions.Count];
        while (true)
        {
            var config = Make(indices);
            if (seen.Add(config.Key))
            {
                yield return config;
            }

            var d = Dimensions.Count - 1;
            while (d >= 0)
            {
                // An inactive dimension does not multiply the space: skip its other values.
                if (double.IsNaN(config.Coordinates[d]) || ++indices[d] >= Dimensions[d].Choices.Count)
                {
                    indices[d] = 0;
                    d--;
                    continue;
                }

                break;
            }

            if (d < 0)
            {
                yield break;
            }
        }
    }

    /// <summary>
    /// The recipe with this point's values set into its steps' options, then its steps in the point's order when the
    /// space has an <c>order</c> dimension (paths count steps in the recipe's order). The recipe itself is not changed.
    /// </summary>
    public Recipe Apply(Recipe recipe, SearchConfig config)
    {
        var steps = recipe.Steps.ToArray();
        IReadOnlyList<int>? order = null;
        for (var i = 0; i < Dimensions.Count; i++)
        {
            if (double.IsNaN(config.Coordinates[i]))
            {
                continue;
            }

            var value = Dimensions[i].Value(config.Coordinates[i]);
            if (Dimensions[i].IsOrder)
            {
                order = (IReadOnlyList<int>)value!;
                continue;
            }

            foreach (var path in Dimensions[i].Paths)
            {
                var step = steps[path.Step];
                steps[path.Step] = step with { Options = path.Set(step.Options, value) };
            }
        }

        return recipe with { Steps = order is null ? steps : order.Select(i => steps[i]).ToArray() };
    }
}
