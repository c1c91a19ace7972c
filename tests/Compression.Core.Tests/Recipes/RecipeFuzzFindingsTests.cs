using Compression.Core.Diagnostics;
using Compression.Core.Recipes;
using Compression.Core.Tests.Support;

namespace Compression.Core.Tests.Recipes;

/// <summary>
/// Recipes the fuzzer (tests/Compression.Fuzz) found to break the parser with an exception other than a diagnostic,
/// or to end the process; each now gives CMP diagnostics. Inputs too odd to read inline are in tests/fixtures/fuzz/recipe.
/// </summary>
public sealed class RecipeFuzzFindingsTests : IDisposable
{
    private readonly string folder = TestAssets.TempDirectory();

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Theory]
    // YamlDotNet's scanner threw InvalidOperationException (an empty stack in ScanPlainScalar). The position is the
    // end of the last event read: here the '['.
    [InlineData("yaml-scanner-state.yaml", 1, 3)]
    // YamlDotNet's loader threw ArgumentException ("the current event is of an unsupported type") after a NUL in a
    // comment; YamlDotNet takes the NUL for the end of a line.
    [InlineData("yaml-comment-nul.yaml", 2, 1)]
    public void Text_that_YamlDotNet_fails_on_without_a_YamlException_is_a_syntax_error(string file, int line, int column)
    {
        var text = File.ReadAllText(Path.Combine(TestAssets.RepoRoot, "tests", "fixtures", "fuzz", "recipe", file));
        var diagnostic = Assert.Single(Parse(text));
        Assert.Equal(ErrorCodes.RecipeSyntax, diagnostic.Code);
        Assert.Equal((line, column), (diagnostic.Line, diagnostic.Column));
    }

    /// <summary>
    /// afl turned '{ method: structured, structured: {...} }' into '{!method: structured, ...}': a tag, so the first key
    /// is 'structured' too, which the YAML reader lets through beside the untagged one. The option checks indexed the
    /// step's keys and threw ArgumentException on the second.
    /// </summary>
    [Fact]
    public void A_key_given_twice_is_refused_at_the_second()
    {
        var text = File.ReadAllText(Path.Combine(TestAssets.RepoRoot, "tests", "fixtures", "fuzz", "recipe", "duplicate-key-through-a-tag.yaml"));
        var diagnostics = Parse(text);
        var duplicate = Assert.Single(diagnostics, d => d.Code == ErrorCodes.RecipeDuplicateKey);
        Assert.Equal((21, 34), (duplicate.Line, duplicate.Column));
        Assert.Contains("'structured' is given twice", duplicate.Message, StringComparison.Ordinal);

        // Untagged, the YAML reader itself refuses the second key.
        var plain = Assert.Single(Parse("steps:\n  - quantize: { mode: dynamic, mode: static }"));
        Assert.Equal(ErrorCodes.RecipeSyntax, plain.Code);
    }

    [Theory]
    // Every binder cast keys to scalars: a list or mapping as a key threw InvalidCastException.
    [InlineData("[a]: 1", "a list")]
    [InlineData("steps:\n  - quantize: { { bits: 4 }: 8 }", "a mapping")]
    [InlineData("search:\n  space:\n    ? [quantize.bits]\n    : [4, 8]", "a list")]
    public void A_key_that_is_not_a_name_is_refused(string text, string what)
    {
        var diagnostic = Assert.Single(Parse(text));
        Assert.Equal(ErrorCodes.RecipeWrongType, diagnostic.Code);
        Assert.Contains($"is {what}; keys are names", diagnostic.Message, StringComparison.Ordinal);
    }

    [Theory]
    // A list item that does not bind was added as null to a List<double>: ArgumentNullException.
    [InlineData("data:\n  d: { format: random, std: [1, oops] }", "data.d.std[1] must be a number, not 'oops'")]
    [InlineData("data:\n  d: { format: random, mean: [~] }", "data.d.mean[0] must be a number")]
    [InlineData("steps:\n  - quantize: { exclude: [Softmax, ~] }", "exclude[1] must be a string")]
    public void A_list_item_that_does_not_bind_is_one_diagnostic_and_no_hole(string text, string message)
    {
        var diagnostic = Assert.Single(Parse(text));
        Assert.Equal(ErrorCodes.RecipeWrongType, diagnostic.Code);
        Assert.Contains(message, diagnostic.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("flow lists", 200_000)]
    [InlineData("flow mappings", 200_000)]
    [InlineData("block lists", 100)]
    public void Nesting_past_the_limit_is_refused_quickly_instead_of_overflowing_the_stack(string style, int levels)
    {
        // 200,000 levels overflowed YamlDotNet's recursive loader: a crash that no catch stops, ending the host process.
        var text = style switch
        {
            "flow lists" => $"steps: {new string('[', levels)}x{new string(']', levels)}",
            "flow mappings" => $"steps: {string.Concat(Enumerable.Repeat("{a: ", levels))}x{new string('}', levels)}",
            _ => "steps:\n" + string.Concat(Enumerable.Range(1, levels).Select(i => new string(' ', i) + "-\n")) + new string(' ', levels + 1) + "x",
        };

        var watch = System.Diagnostics.Stopwatch.StartNew();
        var diagnostic = Assert.Single(Parse(text));
        Assert.Equal(ErrorCodes.RecipeTooDeep, diagnostic.Code);
        Assert.InRange(watch.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(5));
    }

    [Fact]
    public void Nesting_up_to_the_limit_still_parses()
    {
        var text = "data:\n  d: { format: random, mean: " + new string('[', 60) + "1" + new string(']', 60) + " }";
        Assert.DoesNotContain(Parse(text), d => d.Code == ErrorCodes.RecipeTooDeep);
    }

    [Fact]
    public void Aliases_that_would_expand_to_a_hundred_million_values_are_read_once()
    {
        // Each level names the one before ten times: expanding it would take 10^8 nodes; binding never expands.
        var lines = new List<string> { "x0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]" };
        lines.AddRange(Enumerable.Range(1, 8).Select(i => $"x{i}: &a{i} [{string.Join(", ", Enumerable.Repeat($"*a{i - 1}", 10))}]"));
        var text = "data:\n  d: { format: random, mean: *a8 }\ngates:\n  " + string.Join("\n  ", lines);

        var watch = System.Diagnostics.Stopwatch.StartNew();
        var diagnostics = Parse(text);
        Assert.InRange(watch.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(5));
        Assert.All(diagnostics, d => Assert.Matches("^CMP10[0-9]{2}$", d.Code));
        Assert.Contains(diagnostics, d => d.Code == ErrorCodes.RecipeUnknownKey);
    }

    private IReadOnlyList<Diagnostic> Parse(string text) => RecipeParser.Parse(text, "fuzz.yaml", folder).Diagnostics;
}
