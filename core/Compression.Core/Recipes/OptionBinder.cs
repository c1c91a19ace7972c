using System.Collections;
using System.Globalization;
using System.Reflection;
using System.Runtime.CompilerServices;
using Compression.Core.Diagnostics;
using Compression.Core.Options;
using Compression.Core.Passes;
using YamlDotNet.RepresentationModel;

namespace Compression.Core.Recipes;

/// <summary>
/// Binds YAML nodes to typed option records: snake_case keys to PascalCase init properties, scalars to
/// bool/int/long/double/string/enum (doubles also as fractions like <c>1/255</c>), sequences to lists and arrays,
/// mappings to records or string-keyed dictionaries. Every problem becomes a diagnostic with the recipe's line
/// and column; binding goes on after an error so that all errors of a recipe are reported together.
/// </summary>
internal sealed class OptionBinder(string? file, List<Diagnostic> diagnostics)
{
    public object? Bind(YamlNode node, Type type, string where)
    {
        var nullable = Nullable.GetUnderlyingType(type);
        if (nullable is not null)
        {
            type = nullable;
        }

        if (node is YamlScalarNode { Value: null or "" or "~" or "null" } && (nullable is not null || !type.IsValueType))
        {
            return null;
        }

        if (type == typeof(string) || type == typeof(bool) || type == typeof(int) || type == typeof(long) || type == typeof(double) || type.IsEnum)
        {
            return node is YamlScalarNode scalar ? Scalar(scalar, type, where) : Wrong(node, where, Describe(type));
        }

        if (Dictionary(type) is { } valueType)
        {
            if (node is not YamlMappingNode map)
            {
                return Wrong(node, where, "a mapping of names to entries");
            }

            var result = (IDictionary)Activator.CreateInstance(typeof(Dictionary<,>).MakeGenericType(typeof(string), valueType))!;
            foreach (var (key, value) in map.Children)
            {
                var name = ((YamlScalarNode)key).Value ?? "";
                result[name] = Bind(value, valueType, $"{where}.{name}");
            }

            return result;
        }

        if (Element(type) is { } elementType)
        {
            // A single value where a list is expected is taken as a list of one.
            var items = node is YamlSequenceNode sequence ? sequence.Children.ToList() : [node];
            var list = (IList)Activator.CreateInstance(typeof(List<>).MakeGenericType(elementType))!;
            for (var i = 0; i < items.Count; i++)
            {
                // An item that did not bind has its diagnostic already; an empty one (~) bound to null without one is
                // refused, as no list option takes holes (and a list of numbers cannot hold one).
                var reported = diagnostics.Count;
                if (Bind(items[i], elementType, $"{where}[{i}]") is { } item)
                {
                    list.Add(item);
                }
                else if (diagnostics.Count == reported)
                {
                    Wrong(items[i], $"{where}[{i}]", Describe(elementType));
                }
            }

            if (type.IsArray)
            {
                var array = Array.CreateInstance(elementType, list.Count);
                list.CopyTo(array, 0);
                return array;
            }

            return list;
        }

        return node is YamlMappingNode mapping ? Record(mapping, type, where) : Wrong(node, where, "a mapping of options");
    }

    /// <summary>Binds a mapping to a record: unknown keys, missing required keys, then each property.</summary>
    public object Record(YamlMappingNode mapping, Type type, string where, IReadOnlyList<string>? otherKeys = null)
    {
        var instance = Activator.CreateInstance(type)!;
        var properties = Options(type);
        var known = properties.Select(p => OptionNames.SnakeCase(p.Name)).Concat(otherKeys ?? []).ToList();
        var place = where.Length == 0 ? "the recipe" : where;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (keyNode, valueNode) in mapping.Children)
        {
            var key = ((YamlScalarNode)keyNode).Value ?? "";
            var property = properties.FirstOrDefault(p => OptionNames.SnakeCase(p.Name) == key);
            if (property is null)
            {
                var suggestion = Suggest(key, known);
                Add(ErrorCodes.RecipeUnknownKey, $"Unknown key '{key}' in {place}.{(suggestion is null ? "" : $" Did you mean '{suggestion}'?")} " +
                    $"Known keys: {string.Join(", ", known)}.", keyNode);
                continue;
            }

            if (!seen.Add(key))
            {
                // YAML keys are unique; the reader keeps both, and which one a step would read is a guess.
                Add(ErrorCodes.RecipeDuplicateKey, $"The key '{key}' is given twice in {place}.", keyNode);
                continue;
            }

            var path = where.Length == 0 ? key : $"{where}.{key}";
            var value = Bind(valueNode, property.PropertyType, path);
            if (value is not null || IsNullable(property))
            {
                CheckRange(property, value, valueNode, path);
                property.SetValue(instance, value);
            }
        }

        foreach (var property in properties.Where(p => p.GetCustomAttribute<RequiredMemberAttribute>() is not null))
        {
            if (!seen.Contains(OptionNames.SnakeCase(property.Name)))
            {
                Add(ErrorCodes.RecipeMissingKey, $"{place} needs the key '{OptionNames.SnakeCase(property.Name)}': {property.GetCustomAttribute<OptionAttribute>()?.Description}", mapping);
            }
        }

        return instance;
    }

    public void Add(string code, string message, YamlNode node) =>
        diagnostics.Add(Diagnostic.Error(code, message, file, (int)node.Start.Line, (int)node.Start.Column));

    public void Warn(string code, string message, YamlNode node) =>
        diagnostics.Add(Diagnostic.Warning(code, message, file, (int)node.Start.Line, (int)node.Start.Column));

    /// <summary>Errors reported so far (to tell whether a part bound cleanly).</summary>
    public int ErrorCount => diagnostics.Count(d => d.Severity == DiagnosticSeverity.Error);

    /// <summary>The options of a type: public settable properties, in declaration order.</summary>
    public static IReadOnlyList<PropertyInfo> Options(Type type) =>
        type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite && p.GetCustomAttribute<OptionAttribute>() is not null).ToList();

    /// <summary>The closest candidate within two edits (or sharing a prefix), for "did you mean".</summary>
    public static string? Suggest(string key, IEnumerable<string> candidates)
    {
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var candidate in candidates)
        {
            var distance = Levenshtein(key, candidate);
            if (distance < bestDistance)
            {
                best = candidate;
                bestDistance = distance;
            }
        }

        return best is not null && (bestDistance <= Math.Max(2, key.Length / 3) || best.StartsWith(key, StringComparison.Ordinal)) ? best : null;
    }

    public static Type? Dictionary(Type type) =>
        type.IsGenericType && type.GetGenericTypeDefinition() is var d && (d == typeof(IReadOnlyDictionary<,>) || d == typeof(Dictionary<,>) || d == typeof(IDictionary<,>))
        && type.GetGenericArguments()[0] == typeof(string) ? type.GetGenericArguments()[1] : null;

    public static Type? Element(Type type) =>
        type.IsArray ? type.GetElementType()
        : type.IsGenericType && type.GetGenericTypeDefinition() is var d && (d == typeof(IReadOnlyList<>) || d == typeof(List<>) || d == typeof(IList<>) || d == typeof(IEnumerable<>))
            ? type.GetGenericArguments()[0] : null;

    private object? Scalar(YamlScalarNode scalar, Type type, string where)
    {
        var text = scalar.Value ?? "";
        if (type == typeof(string))
        {
            return text;
        }

        if (type == typeof(bool))
        {
            return text switch
            {
                "true" or "True" or "yes" or "on" => true,
                "false" or "False" or "no" or "off" => false,
                _ => Wrong(scalar, where, "true or false"),
            };
        }

        if (type == typeof(int) && int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var i))
        {
            return i;
        }

        if (type == typeof(long) && long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l))
        {
            return l;
        }

        if (type == typeof(double) && ParseDouble(text) is { } d)
        {
            return d;
        }

        if (type.IsEnum)
        {
            foreach (var value in Enum.GetValues(type))
            {
                // The snake_case form stays accepted where a value has its own name (q_operator for qoperator).
                var given = text.ToLowerInvariant().Replace('-', '_');
                if (OptionNames.EnumName(value) == given || OptionNames.SnakeCase(value.ToString()!) == given)
                {
                    return value;
                }
            }

            var names = Enum.GetValues(type).Cast<object>().Select(OptionNames.EnumName).ToList();
            var suggestion = Suggest(text, names);
            Add(ErrorCodes.RecipeWrongType, $"'{text}' is not a valid value for {where}.{(suggestion is null ? "" : $" Did you mean '{suggestion}'?")} Valid values: {string.Join(", ", names)}.", scalar);
            return null;
        }

        return Wrong(scalar, where, Describe(type));
    }

    /// <summary>A number, or a fraction such as 1/255 (convenient for pixel scaling).</summary>
    private static double? ParseDouble(string text)
    {
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
        {
            return value;
        }

        var slash = text.IndexOf('/');
        return slash > 0
            && double.TryParse(text[..slash], NumberStyles.Float, CultureInfo.InvariantCulture, out var numerator)
            && double.TryParse(text[(slash + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out var denominator)
            && denominator != 0 ? numerator / denominator : null;
    }

    private void CheckRange(PropertyInfo property, object? value, YamlNode node, string where)
    {
        var option = property.GetCustomAttribute<OptionAttribute>();
        if (option is null || value is null)
        {
            return;
        }

        foreach (var number in value is IEnumerable list and not string ? list.Cast<object>() : [value])
        {
            if (number is not (int or long or double))
            {
                continue;
            }

            var x = Convert.ToDouble(number, CultureInfo.InvariantCulture);
            if (!InRange(option, x))
            {
                Add(ErrorCodes.RecipeOutOfRange, $"{where} is {x.ToString(CultureInfo.InvariantCulture)}, outside its range {Range(option)}.", node);
            }
            else if (!Allows(option, x))
            {
                Add(ErrorCodes.RecipeOutOfRange, $"{where} is {x.ToString(CultureInfo.InvariantCulture)}; it takes {Choices(option)}.", node);
            }
        }
    }

    /// <summary>Whether the value lies in the option's range (its maximum excluded when the option says so).</summary>
    internal static bool InRange(OptionAttribute option, double value) =>
        !(value < option.Minimum || value > option.Maximum || (option.ExclusiveMaximum && value >= option.Maximum));

    /// <summary>Whether the option's list of values, if it has one, holds the value.</summary>
    internal static bool Allows(OptionAttribute option, double value) => option.Values.Length == 0 || Array.IndexOf(option.Values, value) >= 0;

    /// <summary>"4 or 8", "16, 32, 64, 128 or 256".</summary>
    internal static string Choices(OptionAttribute option)
    {
        var values = option.Values.Select(v => v.ToString(CultureInfo.InvariantCulture)).ToList();
        return values.Count == 1 ? values[0] : $"{string.Join(", ", values.Take(values.Count - 1))} or {values[^1]}";
    }

    internal static string Range(OptionAttribute option) =>
        $"[{(double.IsNegativeInfinity(option.Minimum) ? "-inf" : option.Minimum.ToString(CultureInfo.InvariantCulture))}, " +
        $"{(double.IsPositiveInfinity(option.Maximum) ? "inf" : option.Maximum.ToString(CultureInfo.InvariantCulture))}{(option.ExclusiveMaximum ? ")" : "]")}";

    private object? Wrong(YamlNode node, string where, string expected)
    {
        var actual = node switch
        {
            YamlScalarNode s => $"'{s.Value}'",
            YamlSequenceNode => "a list",
            YamlMappingNode => "a mapping",
            _ => "something else",
        };
        Add(ErrorCodes.RecipeWrongType, $"{where} must be {expected}, not {actual}.", node);
        return null;
    }

    private static string Describe(Type type) =>
        type == typeof(bool) ? "true or false"
        : type == typeof(int) || type == typeof(long) ? "a whole number"
        : type == typeof(double) ? "a number"
        : type == typeof(string) ? "a string"
        : type.IsEnum ? $"one of {string.Join(", ", Enum.GetValues(type).Cast<object>().Select(OptionNames.EnumName))}"
        : type.Name;

    private static bool IsNullable(PropertyInfo property) =>
        Nullable.GetUnderlyingType(property.PropertyType) is not null
        || new NullabilityInfoContext().Create(property).WriteState == NullabilityState.Nullable;

    private static int Levenshtein(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }
}
