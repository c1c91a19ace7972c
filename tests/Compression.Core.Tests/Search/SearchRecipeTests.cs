using Compression.Core.Diagnostics;
using Compression.Core.Quantization;
using Compression.Core.Recipes;
using Compression.Core.Search;

namespace Compression.Core.Tests.Search;

/// <summary>The search section is read and checked before any trial: paths into any step, values, ranges, metrics, budget.</summary>
public sealed class SearchRecipeTests
{
    private const string Steps = """
        version: 1
        steps:
          - quantize: { mode: weight_only, layers: { MatMul_1: { block_size: 32 } } }
        """;

    private static IReadOnlyList<Diagnostic> Errors(string search) =>
        RecipeParser.Parse(Steps + "\n" + search, "recipe.yaml", Path.GetTempPath()).Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).ToList();

    private static Recipe Parse(string search)
    {
        var (recipe, diagnostics) = RecipeParser.Parse(Steps + "\n" + search, "recipe.yaml", Path.GetTempPath());
        Assert.Empty(diagnostics);
        return recipe!;
    }

    [Theory]
    [InlineData("search: { objectives: [minimize size] }", ErrorCodes.SearchSpaceEmpty, 4)]
    [InlineData("search:\n  space: {}", ErrorCodes.SearchSpaceEmpty, 5)]
    [InlineData("search:\n  space:\n    quantize.bits: []", ErrorCodes.SearchSpaceEmpty, 6)]
    [InlineData("search:\n  space:\n    quantize.bitz: [4, 8]", ErrorCodes.SearchUnknownPath, 6)]
    [InlineData("search:\n  space:\n    prune.sparsity: [0.5]", ErrorCodes.SearchUnknownPath, 6)]
    [InlineData("search:\n  space:\n    quantize.mode[x]: [dynamic]", ErrorCodes.SearchUnknownPath, 6)]
    [InlineData("search:\n  space:\n    quantize.block_size: { min: 128, max: 32, step: 2, log: true }", ErrorCodes.SearchBadRange, 6)]
    [InlineData("search:\n  space:\n    quantize.mode: { min: 1, max: 2 }", ErrorCodes.SearchBadRange, 6)]
    [InlineData("search:\n  space:\n    quantize.block_size: { min: 16, max: 256, step: 0 }", ErrorCodes.SearchBadRange, 6)]
    [InlineData("search:\n  space: { quantize.bits: [4, 8] }\n  budget: { trials: 0 }", ErrorCodes.SearchBadBudget, 6)]
    [InlineData("search:\n  space: { quantize.bits: [4, 8] }\n  constraints: [\"acuracy_drop <= 0.01\"]", ErrorCodes.SearchUnknownMetric, 6)]
    [InlineData("search:\n  space: { quantize.bits: [4, 8] }\n  objectives: [shrink size]", ErrorCodes.SearchUnknownMetric, 6)]
    [InlineData("search:\n  space: { quantize.bits: [4, 8] }\n  constraints: [\"accuracy_drop <= 0.002\"]", ErrorCodes.SearchMetricNotProduced, 5)]
    [InlineData("search:\n  space: { quantize.bits: [2, 4] }", ErrorCodes.SearchValueOutOfRange, 5)]
    [InlineData("search:\n  space:\n    quantize.block_size: { values: [32, 64], when: { quantize.mode: weight_only } }", ErrorCodes.SearchBadCondition, 6)]
    [InlineData("search:\n  space:\n    quantize.block_size: { min: 16, max: 256 }\n  strategy: grid", ErrorCodes.SearchGridNeedsSteps, 7)]
    public void Bad_search_sections_are_refused_with_their_code_and_line(string search, string code, int line)
    {
        var errors = Errors(search);
        var error = Assert.Single(errors);
        Assert.Equal(code, error.Code);
        Assert.Equal(line, error.Line);
        Assert.Equal("recipe.yaml", error.File);
    }

    [Fact]
    public void An_unknown_option_path_suggests_the_closest_option()
    {
        var error = Assert.Single(Errors("search:\n  space:\n    quantize.calibraton.method: [min_max]"));
        Assert.Contains("Did you mean 'calibration'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Min_above_max_names_both_numbers()
    {
        var error = Assert.Single(Errors("search:\n  space:\n    quantize.block_size: { min: 128, max: 32 }"));
        Assert.Equal(ErrorCodes.SearchBadRange, error.Code);
        Assert.Contains("min 128 is greater than max 32", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Paths_reach_nested_records_map_entries_and_list_members_without_changing_the_recipe()
    {
        var recipe = Parse("""
            search:
              space:
                quantize.calibration.method: [entropy]
                quantize.layers[MatMul_1].bits: [8]
                quantize.layers[Gather_*].block_size: [128]
                quantize.exclude[Softmax]: [true]
                quantize.block_size: { min: 16, max: 256, step: 2, log: true }
            """);
        var space = recipe.Search!.Space;
        Assert.Equal([16, 32, 64, 128, 256], space.Dimensions[4].Choices.Select(c => (int)c.Value!));
        var config = space.Make([0, 0, 0, 0, 3]);
        var applied = (QuantizeOptions)space.Apply(recipe, config).Steps[0].Options;
        var original = (QuantizeOptions)recipe.Steps[0].Options;

        Assert.Equal(CalibrationMethod.Entropy, applied.Calibration!.Method);
        Assert.Equal(8, applied.Layers["MatMul_1"].Bits);
        Assert.Equal(32, applied.Layers["MatMul_1"].BlockSize);
        Assert.Equal(128, applied.Layers["Gather_*"].BlockSize);
        Assert.Equal(["Softmax"], applied.Exclude);
        Assert.Equal(128, applied.BlockSize);

        Assert.Null(original.Calibration);
        Assert.Null(original.Layers["MatMul_1"].Bits);
        Assert.Single(original.Layers);
        Assert.Empty(original.Exclude);
        Assert.Equal(64, original.BlockSize);
    }

    [Fact]
    public void Conditions_switch_dimensions_off_and_shrink_the_space()
    {
        var recipe = Parse("""
            search:
              space:
                quantize.mode: [dynamic, weight_only]
                quantize.bits: { values: [4, 8], when: { quantize.mode: weight_only } }
                quantize.per_channel: { values: [false, true], when: { quantize.mode: dynamic } }
            """);
        var space = recipe.Search!.Space;
        var all = space.Enumerate().Select(c => c.Key).ToList();
        Assert.Equal(4, space.Size());
        Assert.Equal(
            ["quantize.mode=dynamic; quantize.per_channel=false", "quantize.mode=dynamic; quantize.per_channel=true",
             "quantize.mode=weight_only; quantize.bits=4", "quantize.mode=weight_only; quantize.bits=8"], all);
        Assert.Null(space.KeyOf(new Dictionary<string, string> { ["quantize.bitz"] = "4" }));
        foreach (var config in space.Enumerate())
        {
            Assert.Equal(config.Key, space.KeyOf(space.Labels(config)));
        }
    }

    [Fact]
    public void Tied_paths_set_every_layer_of_a_group_to_one_value()
    {
        var recipe = Parse("""
            search:
              space:
                group_bits:
                  paths:
                    - quantize.layers[MatMul_1].bits
                    - quantize.layers[MatMul_2].bits
                  values: [8]
            """);
        var applied = (QuantizeOptions)recipe.Search!.Space.Apply(recipe, recipe.Search.Space.Make([0])).Steps[0].Options;
        Assert.Equal(8, applied.Layers["MatMul_1"].Bits);
        Assert.Equal(8, applied.Layers["MatMul_2"].Bits);
    }
}
