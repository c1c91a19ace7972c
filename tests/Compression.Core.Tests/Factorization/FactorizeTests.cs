using Compression.Core.Diagnostics;
using Compression.Core.Factorization;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Passes;
using Compression.Core.Pipeline;
using Compression.Core.Quantization;
using Compression.Core.Recipes;
using Compression.Core.Tests.Corpus;
using Compression.Core.Tests.Support;
using Xunit.Abstractions;

namespace Compression.Core.Tests.Factorization;

/// <summary>
/// The <c>factorize</c> step: its options checked when the recipe is read, and the step run through the pipeline on
/// corpus models (Fashion-MNIST, calibrated on 128 training images, checked on 1,000 held-back test images): what the
/// graph looks like after a split, that the result runs and keeps its accuracy, what it leaves alone and why, how
/// pruning and quantization treat the factors, and that the output depends only on model, recipe and data.
/// </summary>
public sealed class FactorizeTests(ITestOutputHelper output) : IDisposable
{
    private static readonly string FashionData = $"""
        data:
          calib: {"{"} format: idx, path: {TestAssets.FashionMnist}/train-images-idx3-ubyte.gz, take: 128 {"}"}
          check:
            format: idx
            path: {TestAssets.FashionMnist}/t10k-images-idx3-ubyte.gz
            labels: {TestAssets.FashionMnist}/t10k-labels-idx1-ubyte.gz
            take: 1000
        """;

    private const string Calibrated = "min_speedup: 0, calibration: { data: calib, samples: 128 }";

    /// <summary>Conv patches give many rows per image: 64 images calibrate a CNN and keep the test within seconds.</summary>
    private const string CalibratedCnn = "min_speedup: 0, calibration: { data: calib, samples: 64 }";

    private readonly string folder = TestAssets.TempDirectory();

    public void Dispose() => Directory.Delete(folder, recursive: true);

    // ---- options checked when the recipe is read ----------------------------------------------------------------

    /// <summary>
    /// Values outside an option's declared range (keep 1.5, rank 0, energy 2) are the recipe reader's CMP1005 at the
    /// value; what the range admits but the step cannot run (keep 0, energy 0, two sizes, data-aware choices without
    /// data) is the step's own code at the key.
    /// </summary>
    [Theory]
    [InlineData("{ keep: 1.5 }", "CMP1005", 2, 24)]
    [InlineData("{ rank: 0 }", "CMP1005", 2, 24)]
    [InlineData("{ energy: 2 }", "CMP1005", 2, 26)]
    [InlineData("{ keep: 0 }", "CMP3501", 2, 18)]
    [InlineData("{ energy: 0 }", "CMP3501", 2, 18)]
    [InlineData("{ keep: 0.5, rank: 8 }", "CMP3502", 2, 29)]
    [InlineData("{ conv: tucker3 }", "CMP1004", 2, 24)]
    [InlineData("{ allocation: sensitivity }", "CMP3503", 2, 18)]
    [InlineData("{ method: whitened }", "CMP3503", 2, 18)]
    public void A_bad_option_is_reported_at_its_line_and_column(string step, string code, int line, int column)
    {
        var diagnostics = RecipeParser.Parse($"""
            steps:
              - factorize: {step}
            """, Path.Combine(folder, "r.yaml"), folder).Diagnostics;

        output.WriteLine(string.Join(Environment.NewLine, diagnostics.Select(d => $"{d.Code} {d.Severity} ({d.Line},{d.Column}) {d.Message}")));
        var error = Assert.Single(diagnostics, d => d.Severity == DiagnosticSeverity.Error);
        Assert.Equal((code, line, column), (error.Code, error.Line ?? 0, error.Column ?? 0));
    }

    [Fact]
    public void Every_problem_of_a_layers_entry_is_reported_and_a_valid_step_gives_nothing()
    {
        var diagnostics = RecipeParser.Parse("""
            steps:
              - factorize:
                  layers:
                    fc1: { keep: 0.5, energy: 0.9 }
            """, Path.Combine(folder, "r.yaml"), folder).Diagnostics;
        Assert.Equal([ErrorCodes.FactorizeOptionConflict], diagnostics.Select(d => d.Code));

        Assert.Empty(RecipeParser.Parse($"""
            {FashionData}
            steps:
              - factorize: {"{"} keep: 0.4, allocation: sensitivity, method: whitened, {Calibrated} {"}"}
            """, Path.Combine(folder, "r.yaml"), folder).Diagnostics);
    }

    // ---- the split graph ---------------------------------------------------------------------------------------

    [SkippableFact]
    public void Gemm_layers_become_two_factors_with_the_bias_on_the_second_and_keep_their_accuracy()
    {
        ExportCorpus.RequireData();
        var (result, _) = Run("mlp_gemm", $"- factorize: {{ keep: 0.5, {Calibrated} }}");

        var factorize = PassHarness.Result<FactorizeResult>(Assert.Single(result.Steps));
        Assert.True(factorize.ParametersAfter < factorize.ParametersBefore, $"{factorize.ParametersBefore} -> {factorize.ParametersAfter}");
        var original = ModelLoader.Load(ExportCorpus.Models["mlp_gemm"].Path).MainGraph;
        var graph = ModelLoader.Load(result.OutputPath!).MainGraph;
        var split = factorize.Layers.Where(r => r.Action.StartsWith("split", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(split);
        Assert.Equal(split.Count, factorize.FactoredLayers);
        foreach (var row in split)
        {
            Assert.False(row.Rank is null || row.ParametersBefore is null || row.ParametersAfter is null || row.Error is null, row.ToString());
            Assert.True(row.ParametersAfter < row.ParametersBefore, row.ToString());
            var dense = Node(original, row.Node);
            Assert.DoesNotContain(graph.Nodes, n => n.Name == row.Node);
            var a = Node(graph, row.Node + "/lowrank_a");
            var b = Node(graph, row.Node + "/lowrank_b");
            Assert.Equal("MatMul", a.OpType);
            Assert.Equal(dense.Input[0], a.Input[0]);
            Assert.Equal(a.Output[0], b.Input[0]);
            Assert.Equal(dense.Output[0], b.Output[0]);
            if (dense.OpType == "Gemm" && dense.Input.Count > 2)
            {
                Assert.Equal("Gemm", b.OpType);
                Assert.Equal(dense.Input[2], b.Input[2]);
                Assert.Equal(2, a.Input.Count);
            }

            var rank = graph.Initializer(a.Input[1])!.Dims[1];
            Assert.Equal(row.Rank, rank.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Assert.Equal(rank, graph.Initializer(b.Input[1])!.Dims[0]);
        }

        AssertTop1Within(result, 0.02);
    }

    [SkippableFact]
    public void A_3x3_conv_becomes_a_tucker2_chain_with_its_strides_and_pads_and_keeps_its_accuracy()
    {
        ExportCorpus.RequireData();
        var (result, _) = Run("residual_cnn", $"- factorize: {{ conv: tucker2, {CalibratedCnn} }}");

        var factorize = PassHarness.Result<FactorizeResult>(Assert.Single(result.Steps));
        var original = ModelLoader.Load(ExportCorpus.Models["residual_cnn"].Path).MainGraph;
        var graph = ModelLoader.Load(result.OutputPath!).MainGraph;
        var chains = 0;
        foreach (var row in factorize.Layers.Where(r => r.OpType == "Conv" && r.Action.StartsWith("split", StringComparison.Ordinal)))
        {
            var dense = Node(original, row.Node);
            if (original.Initializer(dense.Input[1])!.Dims.Skip(2).SequenceEqual([3L, 3L]) is false)
            {
                continue;
            }

            Assert.Contains("tucker-2", row.Action, StringComparison.Ordinal);
            var a = Node(graph, row.Node + "/lowrank_a");
            var core = Node(graph, row.Node + "/lowrank_core");
            var b = Node(graph, row.Node + "/lowrank_b");
            Assert.All(new[] { a, core, b }, n => Assert.Equal("Conv", n.OpType));
            Assert.Equal(dense.Input[0], a.Input[0]);
            Assert.Equal(a.Output[0], core.Input[0]);
            Assert.Equal(core.Output[0], b.Input[0]);
            Assert.Equal(dense.Output[0], b.Output[0]);
            Assert.Equal([1L, 1L], graph.Initializer(a.Input[1])!.Dims.Skip(2));
            Assert.Equal([3L, 3L], graph.Initializer(core.Input[1])!.Dims.Skip(2));
            Assert.Equal([1L, 1L], graph.Initializer(b.Input[1])!.Dims.Skip(2));
            foreach (var attribute in new[] { "strides", "pads", "dilations" })
            {
                Assert.Equal(Ints(dense, attribute), Ints(core, attribute));
                Assert.All(Ints(a, "strides").Concat(Ints(b, "strides")), s => Assert.Equal(1L, s));
                Assert.All(Ints(a, "pads").Concat(Ints(b, "pads")), p => Assert.Equal(0L, p));
            }

            if (dense.Input.Count > 2)
            {
                Assert.Equal(dense.Input[2], b.Input[2]);
                Assert.Equal(2, core.Input.Count);
            }

            chains++;
        }

        Assert.True(chains > 0, "No 3x3 Conv was split: " + string.Join("; ", factorize.Layers.Select(r => $"{r.Node} {r.Action}")));
        AssertTop1Within(result, 0.03);
    }

    [SkippableFact]
    public void Depthwise_convs_are_left_alone_with_the_reason()
    {
        ExportCorpus.RequireData();
        var (result, log) = Run("mobile_se", $"- factorize: {{ {CalibratedCnn} }}");

        var original = ModelLoader.Load(ExportCorpus.Models["mobile_se"].Path).MainGraph;
        var graph = ModelLoader.Load(result.OutputPath!).MainGraph;
        var depthwise = original.Nodes.Where(n => n.OpType == "Conv" && n.Attribute.Any(a => a.Name == "group" && a.I > 1)
            && original.Initializer(n.Input[1]) is { } w && w.Dims[1] == 1).ToList();
        Assert.NotEmpty(depthwise);
        var factorize = PassHarness.Result<FactorizeResult>(Assert.Single(result.Steps));
        foreach (var node in depthwise)
        {
            Assert.Contains(graph.Nodes, n => n.Name == node.Name && n.OpType == "Conv");
            Assert.DoesNotContain(graph.Nodes, n => n.Name.StartsWith(node.Name + "/lowrank", StringComparison.Ordinal));
            Assert.DoesNotContain(factorize.Layers, r => r.Node == node.Name && r.Action.StartsWith("split", StringComparison.Ordinal));
            var reason = Assert.Single(log.VerboseLines, l => l.Contains($"'{node.Name}' (Conv)", StringComparison.Ordinal));
            Assert.Contains("depthwise", reason, StringComparison.Ordinal);
        }

        Assert.True(factorize.FactoredLayers > 0, "mobile_se has dense layers that could be split.");
    }

    // ---- what the next steps make of the factors ---------------------------------------------------------------

    [SkippableFact]
    public void Structured_pruning_after_factorize_trims_the_rank()
    {
        ExportCorpus.RequireData();
        var (result, _) = Run("mlp_gemm", $$"""
            - factorize: { keep: 0.5, {{Calibrated}} }
              - prune: { method: structured, sparsity: 0.3, calibration: { data: calib } }
            """);

        var factorize = PassHarness.Result<FactorizeResult>(result.Steps[0]);
        var graph = ModelLoader.Load(result.OutputPath!).MainGraph;
        var trimmed = 0;
        foreach (var row in factorize.Layers.Where(r => r.Action.StartsWith("split", StringComparison.Ordinal)))
        {
            var rank = long.Parse(row.Rank!, System.Globalization.CultureInfo.InvariantCulture);
            var a = graph.Initializer(Node(graph, row.Node + "/lowrank_a").Input[1])!;
            var b = graph.Initializer(Node(graph, row.Node + "/lowrank_b").Input[1])!;
            Assert.Equal(a.Dims[1], b.Dims[0]);
            output.WriteLine($"{row.Node}: rank {rank} -> {a.Dims[1]}");
            trimmed += a.Dims[1] < rank ? 1 : 0;
        }

        Assert.True(trimmed > 0, "Structured pruning trimmed no split layer's rank.");
    }

    [SkippableFact]
    public void Four_bit_weight_only_quantizes_both_factors()
    {
        ExportCorpus.RequireData();
        var (result, _) = Run("mlp_gemm", $$"""
            - factorize: { keep: 0.5, {{Calibrated}} }
              - quantize: { mode: weight_only, bits: 4 }
            """);

        var factorize = PassHarness.Result<FactorizeResult>(result.Steps[0]);
        var quantize = PassHarness.Result<WeightOnlyQuantizeResult>(result.Steps[1]);
        var graph = ModelLoader.Load(result.OutputPath!).MainGraph;
        foreach (var row in factorize.Layers.Where(r => r.Action.StartsWith("split", StringComparison.Ordinal)))
        {
            foreach (var role in new[] { "a", "b" })
            {
                var node = row.Node + "/lowrank_" + role;
                var layer = Assert.Single(quantize.Layers, l => l.Node == node);
                Assert.True(layer.BytesAfter < layer.BytesBefore, layer.ToString());
                Assert.DoesNotContain(graph.Nodes, n => n.Name == node);
                Assert.Contains(graph.Nodes, n => n.OpType == "MatMulNBits" && n.Name.StartsWith(node, StringComparison.Ordinal));
                output.WriteLine($"{node}: {layer.Action}; {string.Join(", ", graph.Nodes.Where(n => n.Name.StartsWith(node, StringComparison.Ordinal)).Select(n => $"{n.Name} ({n.OpType})"))}");
            }
        }

        AssertTop1Within(result, 0.05);
    }

    [SkippableFact]
    public void A_quantized_model_is_refused()
    {
        ExportCorpus.RequireData();
        var error = Assert.Throws<CompressionException>(() => Run("mlp_gemm", $$"""
            - quantize: { mode: dynamic }
              - factorize: { {{Calibrated}} }
            """));

        Assert.Equal(ErrorCodes.QuantizedModelRefused, error.Code);
        Assert.Contains("quantized", error.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFiles(folder, "*.onnx"));
    }

    [SkippableTheory]
    [InlineData("mlp_gemm")]
    [InlineData("residual_cnn")]
    public void The_same_model_and_recipe_twice_give_the_same_bytes(string model)
    {
        ExportCorpus.RequireData();
        var step = $"- factorize: {{ keep: 0.5, {(model == "mlp_gemm" ? Calibrated : CalibratedCnn)} }}";
        var (first, _) = Run(model, step, evaluate: false, tag: "first");
        var (second, _) = Run(model, step, evaluate: false, tag: "second");

        Assert.Equal(File.ReadAllBytes(first.OutputPath!), File.ReadAllBytes(second.OutputPath!));
    }

    // ---- -WhatIf, and layers that stay dense -------------------------------------------------------------------

    [Fact]
    public void PlanLayers_lists_each_candidate_layer_and_writes_nothing()
    {
        var source = ExportCorpus.Models["mlp_gemm"].Path;
        var path = Path.Combine(folder, "mlp_gemm.onnx");
        File.Copy(source, path);
        var bytes = File.ReadAllBytes(path);
        var model = ModelLoader.Load(path);
        var candidates = model.MainGraph.Nodes.Where(n => n.OpType is "Gemm" or "MatMul" && model.MainGraph.Initializer(n.Input[1]) is not null)
            .Select(n => n.Name).ToList();
        var log = new CollectingLog();

        var lines = FactorizePass.PlanLayers(model, new FactorizeOptions { Keep = 0.5, MinSpeedup = 0 }, new Dictionary<string, Compression.Core.Data.IDataSource>(), log);

        foreach (var line in lines)
        {
            output.WriteLine(line);
        }

        Assert.Equal(candidates.Count, lines.Count);
        for (var i = 0; i < candidates.Count; i++)
        {
            Assert.StartsWith($"'{candidates[i]}' (", lines[i], StringComparison.Ordinal);
            Assert.Matches(": (rank \\d+|dense: )", lines[i]);
        }

        Assert.Contains(lines, l => l.Contains(": rank ", StringComparison.Ordinal));
        Assert.Equal([path], Directory.EnumerateFileSystemEntries(folder));
        Assert.Equal(bytes, File.ReadAllBytes(path));
        Assert.Contains(log.Diagnostics, d => d.Code == ErrorCodes.FactorizeWithoutData);
    }

    [SkippableFact]
    public void A_rank_that_saves_nothing_leaves_the_layer_dense_with_a_warning()
    {
        ExportCorpus.RequireData();
        var original = ModelLoader.Load(ExportCorpus.Models["mlp_gemm"].Path).MainGraph;
        var first = original.Nodes.First(n => n.OpType is "Gemm" or "MatMul").Name;
        var (result, log) = Run("mlp_gemm", $$"""
            - factorize: { keep: 0.5, layers: { "{{first}}": { rank: 512 } }, {{Calibrated}} }
            """);

        var factorize = PassHarness.Result<FactorizeResult>(Assert.Single(result.Steps));
        var warning = Assert.Single(log.Diagnostics, d => d.Code == ErrorCodes.FactorizeLayerLeftDense && d.Message.Contains($"'{first}'", StringComparison.Ordinal));
        Assert.Equal(DiagnosticSeverity.Warning, warning.Severity);
        Assert.Contains(first, warning.Message, StringComparison.Ordinal);
        Assert.Contains("saves nothing", warning.Message, StringComparison.Ordinal);
        var row = Assert.Single(factorize.Layers, r => r.Node == first);
        Assert.StartsWith("dense", row.Action, StringComparison.Ordinal);
        Assert.Equal(row.ParametersBefore, row.ParametersAfter);
        Assert.True(factorize.FactoredLayers > 0, "the other layers are split");

        var model = ModelLoader.Load(result.OutputPath!);
        var dense = Node(model.MainGraph, first);
        Assert.Equal(Node(original, first).Input, dense.Input);
        Assert.DoesNotContain(GraphChecker.Check(model), d => d.Severity == DiagnosticSeverity.Error);
        AssertTop1Within(result, 0.02);
    }

    // ---- helpers ------------------------------------------------------------------------------------------------

    /// <summary>Runs the steps (YAML list items, the first without its indent) on a corpus model through the pipeline.</summary>
    private (CompressionResult Result, CollectingLog Log) Run(string model, string steps, bool evaluate = true, string tag = "out")
    {
        var text = $"""
            version: 1
            {FashionData}
            steps:
              {steps}
            {(evaluate ? "evaluate: { data: check, metrics: [accuracy] }" : "")}
            """;
        var recipePath = Path.Combine(folder, "recipe.yaml");
        var (recipe, diagnostics) = RecipeParser.Parse(text, recipePath, folder);
        Assert.True(recipe is not null, text + Environment.NewLine + string.Join(Environment.NewLine, diagnostics));
        var log = new CollectingLog();
        var result = CompressionPipeline.Run(new CompressionRequest(ExportCorpus.Models[model].Path, recipe!) { OutputPath = Path.Combine(folder, $"{model}.{tag}.onnx") }, log);
        output.WriteLine($"{model} {tag}: {result.Summary}");
        foreach (var diagnostic in log.Diagnostics)
        {
            output.WriteLine($"  {diagnostic.Code} {diagnostic.Message}");
        }

        return (result, log);
    }

    private void AssertTop1Within(CompressionResult result, double points)
    {
        var before = result.Evaluation!.Reference.Task.Top1!.Value;
        var after = result.Evaluation.Candidate!.Task.Top1!.Value;
        output.WriteLine($"top-1 {before:P2} -> {after:P2}");
        Assert.True(before - after <= points, $"top-1 fell from {before:P2} to {after:P2}, more than {points:P0}.");
    }

    private static NodeProto Node(OnnxGraph graph, string name) => Assert.Single(graph.Nodes, n => n.Name == name);

    private static long[] Ints(NodeProto node, string name) => node.Attribute.FirstOrDefault(a => a.Name == name)?.Ints.ToArray() ?? [];
}
