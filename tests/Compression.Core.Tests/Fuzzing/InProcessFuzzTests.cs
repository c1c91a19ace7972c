using Compression.Core.Tests.Support;
using Compression.Fuzz;

namespace Compression.Core.Tests.Fuzzing;

/// <summary>
/// The fuzz targets without afl: every seed (the model seeds, the example recipes, the inputs of past findings in
/// tests/fixtures/fuzz) and a fixed set of mutants of them must give CMP diagnostics or nothing, and answer in time.
/// A failure names the input's origin; 'dotnet Compression.Fuzz.dll run' reproduces the same mutants.
/// </summary>
public sealed class InProcessFuzzTests
{
    private const int RandomSeed = 20261207;

    [Theory]
    [InlineData("model", 400)]
    [InlineData("recipe", 2000)]
    public void Seeds_and_their_mutants_give_CMP_diagnostics_only(string name, int mutants)
    {
        var target = FuzzTarget.Find(name)!;
        var seeds = SeedSet.For(target, TestAssets.RepoRoot);
        Assert.NotEmpty(seeds.Inputs);
        Assert.NotEmpty(seeds.Tokens);

        var findings = InProcessFuzzer.Run(target, seeds, mutants, RandomSeed);
        Assert.True(findings.Count == 0, $"{findings.Count} finding(s); the first:\n{string.Join("\n\n", findings.Take(3))}");
    }
}
