using System.Reflection;

namespace Compression.Core.Options;

/// <summary>How options and their values are named in recipes, messages and docs (snake_case, or an enum value's <see cref="RecipeNameAttribute"/>).</summary>
public static class OptionNames
{
    /// <summary>A C# name in snake_case: <c>MaxSizeRatio</c> is <c>max_size_ratio</c>, <c>QOperator</c> is <c>q_operator</c>.</summary>
    public static string SnakeCase(string name)
    {
        var builder = new System.Text.StringBuilder(name.Length + 4);
        for (var i = 0; i < name.Length; i++)
        {
            if (char.IsUpper(name[i]) && i > 0 && (char.IsLower(name[i - 1]) || (i + 1 < name.Length && char.IsLower(name[i + 1]))))
            {
                builder.Append('_');
            }

            builder.Append(char.ToLowerInvariant(name[i]));
        }

        return builder.ToString();
    }

    /// <summary>An enum value's recipe name: its <see cref="RecipeNameAttribute"/>, else its name in snake_case.</summary>
    public static string EnumName(object value)
    {
        var name = value.ToString()!;
        return value.GetType().GetField(name)?.GetCustomAttribute<RecipeNameAttribute>()?.Name ?? SnakeCase(name);
    }
}
