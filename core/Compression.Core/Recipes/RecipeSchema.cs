using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Compression.Core.Evaluation;
using Compression.Core.Options;
using Compression.Core.Passes;
using Compression.Core.Recipes.Search;

namespace Compression.Core.Recipes;

/// <summary>
/// The JSON Schema of recipes (so editors complete keys) and the key reference of docs/recipes.md, both made from
/// the same option types the parser binds. Checked in; a test fails when either drifts from the code.
/// </summary>
public static class RecipeSchema
{
    public static string Json()
    {
        var schema = (JsonObject)TypeSchema(typeof(Recipe));
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema";
        schema["title"] = "Compression recipe";
        var properties = (JsonObject)schema["properties"]!;
        properties["steps"] = new JsonObject
        {
            ["description"] = "The steps, in order. Each item names one pass and gives its options.",
            ["type"] = "array",
            ["items"] = new JsonObject
            {
                ["oneOf"] = new JsonArray(PassRegistry.All.Select(p => (JsonNode)new JsonObject
                {
                    ["type"] = "object",
                    ["description"] = p.Description,
                    ["additionalProperties"] = false,
                    ["required"] = new JsonArray(p.Name),
                    ["properties"] = new JsonObject { [p.Name] = TypeSchema(p.OptionsType) },
                }).ToArray()),
            },
        };
        var search = (JsonObject)((JsonObject)properties["search"]!)["properties"]!;
        search["space"] = new JsonObject
        {
            ["description"] = SpaceDescription,
            ["type"] = "object",
            ["additionalProperties"] = new JsonObject
            {
                ["oneOf"] = new JsonArray(
                    new JsonObject { ["type"] = "array", ["description"] = "The values, in order (the first is where the sensitivity start begins)." },
                    new JsonObject
                    {
                        ["type"] = "object",
                        ["additionalProperties"] = false,
                        ["properties"] = new JsonObject
                        {
                            ["values"] = new JsonObject { ["type"] = "array", ["description"] = "The values." },
                            ["min"] = new JsonObject { ["type"] = "number", ["description"] = "Range: the smallest value." },
                            ["max"] = new JsonObject { ["type"] = "number", ["description"] = "Range: the largest value." },
                            ["step"] = new JsonObject { ["type"] = "number", ["description"] = "Range: the step (a factor when log); without it the range is continuous." },
                            ["log"] = new JsonObject { ["type"] = "boolean", ["description"] = "Range: log scale." },
                            ["path"] = new JsonObject { ["type"] = "string", ["description"] = "The option path when the key is only a name." },
                            ["paths"] = new JsonObject { ["type"] = "array", ["items"] = new JsonObject { ["type"] = "string" }, ["description"] = "Several option paths set to the same value (a tied group of layers)." },
                            ["when"] = new JsonObject { ["type"] = "object", ["description"] = "Active only when an earlier dimension takes one of these values." },
                            ["start"] = new JsonObject { ["description"] = "Where the sensitivity start begins (default the first value, or min)." },
                        },
                    }),
            },
        };
        return schema.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
    }

    /// <summary>The key reference: one table per section and per step.</summary>
    public static string Markdown()
    {
        var text = new StringBuilder();
        Table(text, "(top level)", typeof(Recipe), extra: "| steps | list | [] | The steps, in order: `- <step>: { options }` (see below). |\n");
        Table(text, "data.<name>", typeof(Data.DataSetSpec));
        Table(text, "evaluate", typeof(EvaluateSpec));
        Table(text, "evaluate.latency", typeof(LatencySpec));
        Table(text, "gates", typeof(GateSpec));
        Table(text, "search", typeof(Search.SearchSpec), extra: $"| space | map | (none) | {SpaceDescription} |\n");
        Table(text, "search.budget", typeof(Search.SearchBudget));
        foreach (var pass in PassRegistry.All)
        {
            text.Append(CultureInfo.InvariantCulture, $"### Step `{pass.Name}`\n\n{pass.Description}\n\n");
            if (OptionBinder.Options(pass.OptionsType).Count > 0)
            {
                Table(text, null, pass.OptionsType);
            }
        }

        return text.ToString();
    }

    private const string SpaceDescription =
        "The options to vary: each key a path into the steps (quantize.bits, quantize.calibration.method, quantize.layers[MatMul_12].block_size, quantize.exclude[Softmax], prune.sparsity, prune.layers[Conv_3].sparsity), each value a list, a range { min, max, step, log }, or a mapping with values/min/max/step/log/path/paths/when/start; or the key order, whose values are orders of the steps ([[prune, quantize], [quantize, prune]]). See docs/search.md.";

    private static void Table(StringBuilder text, string? title, Type type, string extra = "")
    {
        if (title is not null)
        {
            text.Append(CultureInfo.InvariantCulture, $"### `{title}`\n\n");
        }

        text.Append("| key | type | default | meaning |\n| --- | --- | --- | --- |\n");
        var instance = Activator.CreateInstance(type)!;
        foreach (var property in OptionBinder.Options(type))
        {
            var option = property.GetCustomAttribute<OptionAttribute>()!;
            var range = option.Values.Length > 0 ? $" Values: {string.Join(", ", option.Values.Select(v => v.ToString(CultureInfo.InvariantCulture)))}."
                : double.IsNegativeInfinity(option.Minimum) && double.IsPositiveInfinity(option.Maximum) ? "" : $" Range {OptionBinder.Range(option)}.";
            text.Append(CultureInfo.InvariantCulture,
                $"| {OptionNames.SnakeCase(property.Name)} | {TypeName(property.PropertyType)} | {DefaultText(property.GetValue(instance))} | {option.Description}{range} |\n");
        }

        text.Append(extra).Append('\n');
    }

    private static JsonNode TypeSchema(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (type == typeof(string))
        {
            return new JsonObject { ["type"] = "string" };
        }

        if (type == typeof(bool))
        {
            return new JsonObject { ["type"] = "boolean" };
        }

        if (type == typeof(int) || type == typeof(long))
        {
            return new JsonObject { ["type"] = "integer" };
        }

        if (type == typeof(double))
        {
            // Fractions such as 1/255 are accepted too.
            return new JsonObject { ["type"] = new JsonArray("number", "string") };
        }

        if (type.IsEnum)
        {
            return new JsonObject { ["enum"] = new JsonArray(Enum.GetValues(type).Cast<object>().Select(v => (JsonNode)OptionNames.EnumName(v)).ToArray()) };
        }

        if (OptionBinder.Dictionary(type) is { } valueType)
        {
            return new JsonObject { ["type"] = "object", ["additionalProperties"] = TypeSchema(valueType) };
        }

        if (OptionBinder.Element(type) is { } elementType)
        {
            return new JsonObject { ["type"] = "array", ["items"] = TypeSchema(elementType) };
        }

        var properties = new JsonObject();
        var required = new JsonArray();
        var instance = Activator.CreateInstance(type)!;
        foreach (var property in OptionBinder.Options(type))
        {
            var option = property.GetCustomAttribute<OptionAttribute>()!;
            var schema = (JsonObject)TypeSchema(property.PropertyType);
            schema["description"] = option.Description;
            if (!double.IsNegativeInfinity(option.Minimum))
            {
                schema["minimum"] = option.Minimum;
            }

            if (!double.IsPositiveInfinity(option.Maximum))
            {
                schema[option.ExclusiveMaximum ? "exclusiveMaximum" : "maximum"] = option.Maximum;
            }

            if (option.Values.Length > 0)
            {
                schema["enum"] = new JsonArray(option.Values.Select(v => JsonValue.Create(v)).ToArray<JsonNode?>());
            }

            if (DefaultValue(property.GetValue(instance)) is { } value)
            {
                schema["default"] = value;
            }

            properties[OptionNames.SnakeCase(property.Name)] = schema;
            if (property.GetCustomAttribute<System.Runtime.CompilerServices.RequiredMemberAttribute>() is not null)
            {
                required.Add(OptionNames.SnakeCase(property.Name));
            }
        }

        var result = new JsonObject { ["type"] = "object", ["additionalProperties"] = false, ["properties"] = properties };
        if (required.Count > 0)
        {
            result["required"] = required;
        }

        return result;
    }

    private static JsonNode? DefaultValue(object? value) => value switch
    {
        null => null,
        string s => s,
        bool b => b,
        int i => i,
        long l => l,
        double d => d,
        Enum e => OptionNames.EnumName(e),
        _ => null,
    };

    private static string DefaultText(object? value) => DefaultValue(value) switch
    {
        null => "",
        var node => $"`{node.ToJsonString()}`",
    };

    private static string TypeName(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        return type == typeof(string) ? "string"
            : type == typeof(bool) ? "bool"
            : type == typeof(int) || type == typeof(long) ? "integer"
            : type == typeof(double) ? "number"
            : type.IsEnum ? string.Join(" \\| ", Enum.GetValues(type).Cast<object>().Select(OptionNames.EnumName))
            : OptionBinder.Dictionary(type) is not null ? "mapping"
            : OptionBinder.Element(type) is { } e ? $"list of {TypeName(e)}"
            : "mapping";
    }
}
