using System.Text.Json.Nodes;
using Compression.Core.Diagnostics;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Passes.Graph;
using Compression.Core.Pruning;
using Compression.Core.Quantization;
using Compression.Core.Recipes;
using Compression.Core.Search;
using Compression.Core.Tests.Support;
using Xunit.Abstractions;

namespace Compression.Core.Tests.Search;

/// <summary>
/// Two kinds of dimension: per-layer pruning (<c>prune.layers[pattern].sparsity</c>) and the order of the steps
/// (<c>order</c>). Read and checked before any trial; then searched on mnist-8 with 500 MNIST test images.
/// </summary>
public sealed class LayerAndOrderSearchTests(ITestOutputHelper output) : IDisposable
{
    private const string Steps = """
        version: 1
        steps:
          - prune: { sparsity: 0.5 }
          - quantize: { mode: dynamic }
        """;

    private readonly string folder = TestAssets.TempDirectory();

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private static IReadOnlyList<Diagnostic> Errors(string text) =>
        RecipeParser.Parse(text, "recipe.yaml", Path.GetTempPath()).Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).ToList();

    private static Recipe Parse(string text)
    {
        var (recipe, diagnostics) = RecipeParser.Parse(text, "recipe.yaml", Path.GetTempPath());
        Assert.Empty(diagnostics);
        return recipe!;
    }

    [Fact]
    public void A_layer_sparsity_path_sets_that_layers_entry_and_leaves_the_recipe_alone()
    {
        var recipe = Parse(Steps + """

            search:
              space:
                prune.layers[Times212].sparsity: [0.3, 0.5, 0.7]
                prune.layers[Convolution*].sparsity: [0, 0.6]
            """);
        var space = recipe.Search!.Space;
        var applied = (PruneOptions)space.Apply(recipe, space.Make([2, 1])).Steps[0].Options;

        Assert.Equal(["0.3", "0.5", "0.7"], space.Dimensions[0].Choices.Select(c => c.Label));
        Assert.Equal(0.7, applied.Layers["Times212"].Sparsity);
        Assert.Equal(0.6, applied.Layers["Convolution*"].Sparsity);
        Assert.Equal(["Times212", "Convolution*"], applied.Layers.Keys);
        Assert.Empty(((PruneOptions)recipe.Steps[0].Options).Layers);
    }

    [Theory]
    [InlineData("search:\n  space:\n    prune.layers[Times212].sparsty: [0.3]", ErrorCodes.SearchUnknownPath, 7, 5, "Did you mean 'sparsity'?")]
    [InlineData("search:\n  space:\n    prune.layers[Times212].sparsity: [0.3, 1.5]", ErrorCodes.SearchValueOutOfRange, 7, 44, "1.5 is outside the range")]
    [InlineData("search:\n  space:\n    quantize.bits: [4, 6]", ErrorCodes.SearchValueOutOfRange, 7, 24, "6 is not a value of quantize.bits, which takes 4 or 8")]
    [InlineData("search:\n  space:\n    prune.layers[Times212].heads: [0.5]", ErrorCodes.RecipeWrongType, 7, 36, "")]
    [InlineData("search:\n  space:\n    prune.layer[Times212].sparsity: [0.3]", ErrorCodes.SearchUnknownPath, 7, 5, "Did you mean 'layers'?")]
    public void Bad_layer_paths_and_values_are_refused_with_their_line_and_column(string search, string code, int line, int column, string message)
    {
        var error = Assert.Single(Errors(Steps + "\n" + search));
        Assert.Equal(code, error.Code);
        Assert.Equal((line, column), (error.Line, error.Column));
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("layers: { Times212: { sparsty: 0.3 } }", ErrorCodes.RecipeUnknownKey, 36, "Did you mean 'sparsity'?")]
    [InlineData("layers: { Times212: { sparsity: 1.2 } }", ErrorCodes.RecipeOutOfRange, 46, "step 'prune'.layers.Times212.sparsity is 1.2")]
    [InlineData("layers: { Times212: 0.3 }", ErrorCodes.RecipeWrongType, 34, "")]
    public void Bad_layer_entries_in_the_step_are_refused_with_their_line_and_column(string layers, string code, int column, string message)
    {
        var error = Assert.Single(Errors($"version: 1\nsteps:\n  - prune: {{ {layers} }}"));
        Assert.Equal(code, error.Code);
        Assert.Equal((3, column), (error.Line, error.Column));
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("bits: 6", 42, "step 'quantize'.bits is 6; it takes 4 or 8.")]
    [InlineData("output_layer_bits: 5", 55, "step 'quantize'.output_layer_bits is 5; it takes 4 or 8.")]
    [InlineData("block_size: 48", 48, "step 'quantize'.block_size is 48; it takes 16, 32, 64, 128 or 256.")]
    [InlineData("layers: { head: { bits: 3 } }", 60, "step 'quantize'.layers.head.bits is 3, outside its range [4, 8].")]
    public void Weight_only_bits_and_block_sizes_outside_their_values_are_refused_with_their_line_and_column(string option, int column, string message)
    {
        var error = Assert.Single(Errors($"version: 1\nsteps:\n  - quantize: {{ mode: weight_only, {option} }}"));
        Assert.Equal(ErrorCodes.RecipeOutOfRange, error.Code);
        Assert.Equal((3, column), (error.Line, error.Column));
        Assert.Equal(message, error.Message);
    }

    [Fact]
    public void An_order_dimension_reorders_the_steps_after_setting_their_options()
    {
        var recipe = Parse(Steps + """

            search:
              space:
                order: [[prune, quantize], [quantize, prune]]
                prune.sparsity: [0.3]
            """);
        var space = recipe.Search!.Space;
        var swapped = space.Apply(recipe, space.Make([1, 0]));

        Assert.True(space.Dimensions[0].IsOrder);
        Assert.Equal(["[prune, quantize]", "[quantize, prune]"], space.Dimensions[0].Choices.Select(c => c.Label));
        Assert.Equal(["quantize", "prune"], swapped.Steps.Select(s => s.Pass.Name));
        Assert.Equal(0.3, ((PruneOptions)swapped.Steps[1].Options).Sparsity);
        Assert.Equal("order=[quantize, prune]; prune.sparsity=0.3", space.Make([1, 0]).Key);
        Assert.Equal(["prune", "quantize"], recipe.Steps.Select(s => s.Pass.Name));
    }

    [Fact]
    public void Several_steps_of_one_pass_are_told_apart_by_their_number()
    {
        var recipe = Parse("""
            version: 1
            steps:
              - fold_constants: {}
              - prune: { sparsity: 0.5 }
              - fold_constants: {}
            search:
              space:
                order:
                  values:
                    - ["fold_constants[1]", prune, "fold_constants[2]"]
                    - [prune, "fold_constants[2]", "fold_constants[1]"]
                  start: "[prune, fold_constants[2], fold_constants[1]]"
            """);
        var dimension = recipe.Search!.Space.Dimensions[0];

        Assert.Equal([1, 2, 0], (IReadOnlyList<int>)dimension.Choices[1].Value!);
        Assert.Equal(1, dimension.Start);
    }

    [Theory]
    [InlineData("order: [[prune]]", 7, 13, "[prune] leaves out quantize")]
    [InlineData("order: [[prune, quantise]]", 7, 21, "names 'quantise', which is not a step of the recipe. Did you mean 'quantize'? The recipe's steps are prune, quantize.")]
    [InlineData("order: [[prune, prune]]", 7, 21, "names 'prune' twice in [prune, prune]")]
    [InlineData("order: [prune, quantize]", 7, 13, "A value of search.space.order is a list of step names, e.g. [quantize, prune]")]
    [InlineData("order: { min: 0, max: 1 }", 7, 14, "takes values (orders of the steps), when and start; not 'min'")]
    [InlineData("order: { path: prune.sparsity, values: [[prune, quantize]] }", 7, 14, "not 'path'")]
    public void Orders_that_are_not_permutations_of_the_steps_are_CMP4112_with_their_line_and_column(string space, int line, int column, string message)
    {
        var error = Assert.Single(Errors(Steps + "\nsearch:\n  space:\n    " + space));
        Assert.Equal(ErrorCodes.SearchBadOrder, error.Code);
        Assert.Equal((line, column), (error.Line, error.Column));
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_order_naming_one_of_several_same_steps_without_its_number_is_refused()
    {
        var error = Assert.Single(Errors("""
            version: 1
            steps:
              - fold_constants: {}
              - fold_constants: {}
            search:
              space:
                order: [[fold_constants, fold_constants]]
            """));
        Assert.Equal(ErrorCodes.SearchBadOrder, error.Code);
        Assert.Contains("say which, fold_constants[1] or fold_constants[2]", error.Message, StringComparison.Ordinal);
    }

    private Recipe MnistRecipe(string steps, string space, string objectives, string constraints)
    {
        var mnist = Path.Combine(TestAssets.SharedAssets, "mnist");
        TestAssets.Require(Path.Combine(mnist, "t10k-images-idx3-ubyte.gz"), "MNIST test images");
        var text = $$"""
            version: 1
            data:
              search: { format: idx, path: {{mnist}}/t10k-images-idx3-ubyte.gz, labels: {{mnist}}/t10k-labels-idx1-ubyte.gz, scale: 1/255, take: 500 }
            steps:
            {{steps}}
            evaluate: { data: search, metrics: [accuracy] }
            search:
              data: search
              space:
            {{space}}
              objectives: {{objectives}}
              constraints: {{constraints}}
              strategy: grid
              budget: { trials: 20 }
            """;
        var (recipe, diagnostics) = RecipeParser.Parse(text, Path.Combine(folder, "recipe.yaml"), folder);
        Assert.Empty(diagnostics);
        return recipe!;
    }

    private SearchResult Search(Recipe recipe, string name) =>
        SearchRunner.Run(new SearchRequest(TestAssets.Require(TestAssets.Mnist, "mnist-8"), recipe) { OutputPath = Path.Combine(folder, name + ".onnx"), Force = true },
            new CollectingLog());

    private static double Value(Trial trial, string dimension) => double.Parse(trial.Values[dimension], System.Globalization.CultureInfo.InvariantCulture);

    private static double Zeros(OnnxModel model, string node)
    {
        var weight = TensorCodec.ToSingle(ConstantSources.Find(model.MainGraph, model.MainGraph.Nodes.Single(n => n.Name == node).Input[1])!);
        return (double)weight.Count(w => w == 0) / weight.Length;
    }

    [SkippableFact]
    public void A_search_over_per_layer_sparsity_journals_each_layers_choice_and_writes_the_chosen_one()
    {
        var recipe = MnistRecipe(
            "  - prune: { sparsity: 0.5, storage: dense }",
            "    prune.layers[Times212].sparsity: [0.3, 0.5, 0.7]\n    prune.layers[Convolution110].sparsity: [0.5, 0.9]",
            "[maximize sparsity, maximize accuracy]", "[\"accuracy_drop <= 0.01\"]");
        var result = Search(recipe, "layers");
        foreach (var trial in result.Trials)
        {
            output.WriteLine($"{trial}: sparsity {trial.Metric("sparsity"):P2}, accuracy {trial.Metric("accuracy"):P1}");
        }

        Assert.Equal(6, result.Trials.Count);
        Assert.All(result.Trials, t => Assert.Null(t.Error));

        // The sparsity metric counts zeros over the 5,994 float weights of rank 2 and up: the kernels (200 and 3,200),
        // the classifier (2,560) and the [8,1,1], [16,1,1], [1,10] biases, which pruning leaves alone.
        Assert.All(result.Trials, t => Assert.Equal(
            (0.5 * 200 + Value(t, "prune.layers[Convolution110].sparsity") * 3200 + Value(t, "prune.layers[Times212].sparsity") * 2560) / 5994, t.Metric("sparsity")!.Value, 3));
        Assert.Equal(0, result.Baseline["sparsity"]);
        Assert.Equal(6, result.Trials.Select(t => t.ModelSha256).Distinct().Count());

        var lines = File.ReadAllLines(result.JournalPath).Skip(1).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Equal(
            ["0.3/0.5", "0.3/0.9", "0.5/0.5", "0.5/0.9", "0.7/0.5", "0.7/0.9"],
            lines.Select(l => $"{l["values"]!["prune.layers[Times212].sparsity"]}/{l["values"]!["prune.layers[Convolution110].sparsity"]}"));

        var chosen = result.Chosen!;
        var written = ModelLoader.Load(result.OutputPath!);
        Assert.Equal(double.Parse(chosen.Values["prune.layers[Times212].sparsity"], System.Globalization.CultureInfo.InvariantCulture), Zeros(written, "Times212"), 3);
        Assert.Equal(double.Parse(chosen.Values["prune.layers[Convolution110].sparsity"], System.Globalization.CultureInfo.InvariantCulture), Zeros(written, "Convolution110"), 3);
        Assert.Equal(0.5, Zeros(written, "Convolution28"), 3);
    }

    [SkippableFact]
    public void A_node_pattern_that_matches_no_node_of_the_model_is_CMP4113_before_any_trial()
    {
        var recipe = MnistRecipe(
            "  - prune: { sparsity: 0.5 }",
            "    prune.layers[Times213].sparsity: [0.3, 0.7]\n    prune.exclude[Conv]: [false, true]\n    prune.layers[Convolution*].sparsity: [0.3]",
            "[maximize accuracy]", "[]");

        var error = Assert.Throws<CompressionException>(() => Search(recipe, "unmatched"));
        var diagnostic = Assert.Single(error.Diagnostics);
        Assert.Equal(ErrorCodes.SearchPatternUnmatched, diagnostic.Code);
        Assert.Equal((10, 5), (diagnostic.Line, diagnostic.Column));
        Assert.Equal("'prune.layers[Times213].sparsity': 'Times213' matches no node of the model by name (wildcards * and ?) or op type, so this dimension would change nothing. Did you mean 'Times212'?",
            diagnostic.Message);
        Assert.False(File.Exists(Path.Combine(folder, "unmatched.onnx.search.jsonl")));
    }

    /// <summary>
    /// Prune then int8 is the usual pipeline; int8 first leaves pruning nothing float to work on. The search runs
    /// both orders: the swapped ones fail with CMP3411 and their reason, the others are measured, and the chosen model
    /// is pruned and quantized.
    /// </summary>
    [SkippableFact]
    public void A_search_over_the_order_records_the_orders_a_pass_refuses_as_failed_trials_and_goes_on()
    {
        var recipe = MnistRecipe(
            "  - prune: { sparsity: 0.5 }\n  - quantize: { mode: dynamic }",
            "    order: [[quantize, prune], [prune, quantize]]\n    prune.sparsity: [0.3, 0.6]",
            "[minimize size, maximize accuracy]", "[\"accuracy_drop <= 0.01\"]");
        var result = Search(recipe, "order");
        foreach (var trial in result.Trials)
        {
            output.WriteLine($"{trial}: {trial.Error ?? $"size {trial.Metric("size")}, accuracy {trial.Metric("accuracy"):P1}"}");
        }

        Assert.Equal(4, result.Trials.Count);
        var failed = result.Trials.Where(t => t.Error is not null).ToList();
        Assert.Equal(2, failed.Count);
        Assert.All(failed, t => Assert.Equal("[quantize, prune]", t.Values["order"]));
        Assert.All(failed, t => Assert.StartsWith($"{ErrorCodes.QuantizedModelRefused}: The model is quantized", t.Error, StringComparison.Ordinal));
        Assert.All(result.Trials.Except(failed), t => Assert.True(t.Metric("accuracy") > 0.9));

        var journal = File.ReadAllLines(result.JournalPath).Skip(1).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Equal(2, journal.Count(l => l["error"]?.GetValue<string>().Contains("put prune before quantize", StringComparison.Ordinal) == true));

        Assert.Equal("[prune, quantize]", result.Chosen!.Values["order"]);
        var written = ModelLoader.Load(result.OutputPath!);
        Assert.Contains(written.MainGraph.Nodes, n => n.OpType == "DynamicQuantizeMatMul");
        Assert.Equal(double.Parse(result.Chosen.Values["prune.sparsity"], System.Globalization.CultureInfo.InvariantCulture), Zeros(written, "Convolution110"), 3);
        Assert.Equal(["prune", "quantize"], result.Final!.Steps.Select(s => s.Name));
    }
}
