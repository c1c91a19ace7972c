namespace Compression.Core.Options;

// The attributes that declare a step's or a data set's options: recipes, the JSON Schema, help and the cmdlets read
// them. They sit below every layer, since options records live in every layer (data sets as well as methods).

/// <summary>Describes an option for recipes, the JSON Schema and help; the default is the property's initial value.</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class OptionAttribute(string description) : Attribute
{
    public string Description { get; } = description;

    /// <summary>Smallest allowed value of a numeric option.</summary>
    public double Minimum { get; init; } = double.NegativeInfinity;

    /// <summary>Largest allowed value of a numeric option.</summary>
    public double Maximum { get; init; } = double.PositiveInfinity;

    /// <summary>Whether the maximum itself is excluded (e.g. sparsity in [0, 1)).</summary>
    public bool ExclusiveMaximum { get; init; }

    /// <summary>The only values a numeric option takes (bits: 4 or 8), when not every value in the range is one.</summary>
    public double[] Values { get; init; } = [];
}

/// <summary>Marks an option whose value is the name of a data set defined in the recipe.</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class DataSetAttribute : Attribute;

/// <summary>Marks a list or map option whose entries are node patterns: node names with the wildcards * and ?, or op types.</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class NodePatternsAttribute : Attribute;

/// <summary>The name an enum value has in recipes where snake_case of its C# name reads wrong (BFloat16 is bfloat16, not b_float16).</summary>
[AttributeUsage(AttributeTargets.Field)]
public sealed class RecipeNameAttribute(string name) : Attribute
{
    public string Name { get; } = name;
}
