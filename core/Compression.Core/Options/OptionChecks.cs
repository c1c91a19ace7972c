using Compression.Core.Diagnostics;

namespace Compression.Core.Options;

/// <summary>
/// Marks an option that only some values of another option read, e.g. <c>block_size</c> only when <c>mode</c> is
/// weight_only. A recipe that gives it with another value gets a warning (CMP1010) when it is read: the option would
/// be silently ignored.
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class ReadWhenAttribute(string option, params object[] values) : Attribute
{
    /// <summary>The C# name of the governing option (a property of the same record).</summary>
    public string Option { get; } = option;

    /// <summary>The values of the governing option under which this one is read.</summary>
    public IReadOnlyList<object> Values { get; } = values;
}

/// <summary>One problem with a combination of options: a CMP code, the message, and the option (snake_case path) it is about.</summary>
public sealed record OptionProblem(string Code, string Message, string Option, DiagnosticSeverity Severity = DiagnosticSeverity.Error);

/// <summary>
/// An options record that knows which combinations of its options cannot run. Recipes run the check when they are
/// read (each problem at the line and column of its option); the step runs it again before it touches the model, so
/// options built in code are held to the same rules.
/// </summary>
public interface ICheckedOptions
{
    IEnumerable<OptionProblem> Problems();
}

public static class OptionChecks
{
    /// <summary>Throws the first error among the problems; warnings are left to the recipe reader.</summary>
    public static void ThrowIfInvalid(ICheckedOptions options, string? file = null)
    {
        if (options.Problems().FirstOrDefault(p => p.Severity == DiagnosticSeverity.Error) is { } problem)
        {
            throw new CompressionException(Diagnostic.Error(problem.Code, problem.Message, file));
        }
    }

    /// <summary>
    /// The options of <paramref name="options"/> named in <paramref name="given"/> (C# property names) that a
    /// <see cref="ReadWhenAttribute"/> says its current values do not read, with the reason.
    /// </summary>
    public static IEnumerable<(string Option, string Governing, string Reason)> Ignored(object options, IEnumerable<string> given)
    {
        var type = options.GetType();
        foreach (var name in given)
        {
            if (type.GetProperty(name) is not { } property || property.GetCustomAttributes(typeof(ReadWhenAttribute), true) is not [ReadWhenAttribute readWhen, ..])
            {
                continue;
            }

            var governing = type.GetProperty(readWhen.Option)!.GetValue(options);
            if (!readWhen.Values.Contains(governing))
            {
                yield return (OptionNames.SnakeCase(name), readWhen.Option,
                    $"{OptionNames.SnakeCase(readWhen.Option)} is {OptionNames.EnumName(governing!)}: {OptionNames.SnakeCase(name)} is read only when it is " +
                    $"{string.Join(" or ", readWhen.Values.Select(OptionNames.EnumName))}, so it is ignored.");
            }
        }
    }
}
