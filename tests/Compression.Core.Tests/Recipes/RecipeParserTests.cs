using Compression.Core.Diagnostics;
using Compression.Core.Evaluation;
using Compression.Core.Recipes;
using Compression.Core.Tests.Support;

namespace Compression.Core.Tests.Recipes;

public sealed class RecipeParserTests : IDisposable
{
    private readonly string folder = TestAssets.TempDirectory();

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [SkippableFact]
    public void A_full_recipe_binds_every_section()
    {
        var recipe = Parse($$"""
            version: 1
            data:
              test: { format: idx, path: {{Images()}}, labels: {{Labels()}}, take: 100, scale: 1/255 }
            steps: []
            evaluate: { data: test, metrics: [accuracy, agreement, sqnr], batch_size: 1, latency: { batch: 1, threads: 1, runs: 5 } }
            gates: { accuracy_drop: 0.005, max_size_ratio: 0.3 }
            output: "{name}.int8.onnx"
            """);
        Assert.Equal(100, recipe.Data["test"].Take);
        Assert.Equal(1 / 255.0, recipe.Data["test"].Scale);
        Assert.Equal([MetricName.Accuracy, MetricName.Agreement, MetricName.Sqnr], recipe.Evaluate!.Metrics);
        Assert.Equal(5, recipe.Evaluate.Latency!.Runs);
        Assert.Equal(0.005, recipe.Gates.AccuracyDrop);
        Assert.Equal("{name}.int8.onnx", recipe.Output);
        Assert.Empty(recipe.Steps);
    }

    [Fact]
    public void Every_error_is_reported_together_with_line_and_column()
    {
        var (_, diagnostics) = RecipeParser.Parse("""
            version: 2
            evalute: { data: test }
            gates: { accuracy_drop: lots, max_size_ratio: -1 }
            steps:
              - quantise: { mode: dynamic }
            output: "{stem}.onnx"
            """, "r.yaml", folder);
        Assert.All(diagnostics, d => Assert.Equal("r.yaml", d.File));

        var range = diagnostics.Single(d => d.Code == ErrorCodes.RecipeOutOfRange && d.Line == 1);
        Assert.Equal(10, range.Column);
        var unknown = diagnostics.Single(d => d.Code == ErrorCodes.RecipeUnknownKey);
        Assert.Equal((2, 1), (unknown.Line, unknown.Column));
        Assert.Contains("Did you mean 'evaluate'?", unknown.Message, StringComparison.Ordinal);
        var wrongType = diagnostics.Single(d => d.Code == ErrorCodes.RecipeWrongType);
        Assert.Equal((3, 25), (wrongType.Line, wrongType.Column));
        Assert.Contains(diagnostics, d => d.Code == ErrorCodes.RecipeOutOfRange && d.Line == 3 && d.Message.Contains("max_size_ratio", StringComparison.Ordinal));
        var step = diagnostics.Single(d => d.Code == ErrorCodes.RecipeUnknownStep);
        Assert.Equal((5, 5), (step.Line, step.Column));
        Assert.Contains(diagnostics, d => d.Code == ErrorCodes.RecipeBadOutput && d.Line == 6);
    }

    [Fact]
    public void References_to_undefined_data_sets_and_missing_files_are_errors()
    {
        var (_, diagnostics) = RecipeParser.Parse("""
            data:
              calib: { format: idx, path: missing-images.gz }
            evaluate: { data: tset }
            """, "r.yaml", folder);
        var reference = diagnostics.Single(d => d.Code == ErrorCodes.RecipeUnknownDataSet);
        Assert.Equal(3, reference.Line);
        Assert.Contains("'tset'", reference.Message, StringComparison.Ordinal);
        var missing = diagnostics.Single(d => d.Code == ErrorCodes.DataFileMissing);
        Assert.Equal(2, missing.Line);
        Assert.Contains("missing-images.gz", missing.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_required_keys_and_bad_yaml()
    {
        var (_, missing) = RecipeParser.Parse("evaluate: { batch_size: 4 }\n", "r.yaml", folder);
        Assert.Equal(ErrorCodes.RecipeMissingKey, Assert.Single(missing).Code);

        var (recipe, syntax) = RecipeParser.Parse("steps: [\n  - a: {\n", "r.yaml", folder);
        Assert.Null(recipe);
        Assert.Equal(ErrorCodes.RecipeSyntax, Assert.Single(syntax).Code);
        Assert.NotNull(syntax[0].Line);
    }

    [Fact]
    public void Empty_steps_and_a_missing_file()
    {
        var (recipe, diagnostics) = RecipeParser.Parse("steps: []\n", null, folder);
        Assert.Empty(diagnostics);
        Assert.Empty(recipe!.Steps);
        Assert.Equal("{name}.compressed.onnx", recipe.Output);

        var error = Assert.Throws<CompressionException>(() => RecipeParser.Load(Path.Combine(folder, "nope.yaml")));
        Assert.Equal(ErrorCodes.RecipeNotFound, error.Code);
    }

    [Fact]
    public void The_checked_in_schema_and_key_reference_match_the_code()
    {
        var schemaPath = Path.Combine(TestAssets.RepoRoot, "docs", "recipe.schema.json");
        var docsPath = Path.Combine(TestAssets.RepoRoot, "docs", "recipes.md");
        const string Begin = "<!-- keys: generated from the option types; `./build.ps1 docs` rewrites this part -->\n";
        const string End = "<!-- end of keys -->";
        if (Environment.GetEnvironmentVariable("COMPRESSION_UPDATE_DOCS") == "1")
        {
            File.WriteAllText(schemaPath, RecipeSchema.Json());
            var text = File.ReadAllText(docsPath).ReplaceLineEndings("\n");
            var start = text.IndexOf(Begin, StringComparison.Ordinal) + Begin.Length;
            File.WriteAllText(docsPath, text[..start] + "\n" + RecipeSchema.Markdown() + text[text.IndexOf(End, StringComparison.Ordinal)..]);
        }

        Assert.Equal(RecipeSchema.Json(), File.ReadAllText(schemaPath).ReplaceLineEndings("\n"));
        Assert.Contains(Begin + "\n" + RecipeSchema.Markdown() + End, File.ReadAllText(docsPath).ReplaceLineEndings("\n"), StringComparison.Ordinal);
    }

    private Recipe Parse(string text)
    {
        var (recipe, diagnostics) = RecipeParser.Parse(text, "r.yaml", folder);
        Assert.Empty(diagnostics);
        return recipe!;
    }

    private static string Images() => TestAssets.Require(Path.Combine(TestAssets.SharedAssets, "mnist", "t10k-images-idx3-ubyte.gz"), "MNIST test images");

    private static string Labels() => TestAssets.Require(Path.Combine(TestAssets.SharedAssets, "mnist", "t10k-labels-idx1-ubyte.gz"), "MNIST test labels");
}
