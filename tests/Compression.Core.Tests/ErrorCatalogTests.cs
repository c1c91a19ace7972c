using System.Reflection;
using System.Text.RegularExpressions;
using Compression.Core.Diagnostics;
using Compression.Core.Tests.Support;

namespace Compression.Core.Tests;

public sealed partial class ErrorCatalogTests
{
    [Fact]
    public void Every_code_is_unique_well_formed_and_documented()
    {
        var codes = typeof(ErrorCodes).GetFields(BindingFlags.Public | BindingFlags.Static).Select(f => (string)f.GetValue(null)!).ToList();
        Assert.Equal(codes.Count, codes.Distinct().Count());
        Assert.All(codes, c => Assert.Matches(CodePattern(), c));

        var documented = DocumentedCode().Matches(File.ReadAllText(Path.Combine(TestAssets.RepoRoot, "docs", "errors.md")))
            .Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(codes.Order(), documented.Order());
    }

    [GeneratedRegex("^CMP[1-5][0-9]{3}$")]
    private static partial Regex CodePattern();

    [GeneratedRegex(@"^\| (CMP\d{4}) \|", RegexOptions.Multiline)]
    private static partial Regex DocumentedCode();
}
