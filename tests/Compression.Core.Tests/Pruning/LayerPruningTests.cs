using Compression.Core.Diagnostics;
using Compression.Core.Evaluation;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Passes;
using Compression.Core.Passes.Graph;
using Compression.Core.Pruning;
using Compression.Core.Pruning.Structured;
using Compression.Core.Quantization;
using Compression.Core.Tests.Quantization;
using Compression.Core.Tests.Support;
using Xunit.Abstractions;

namespace Compression.Core.Tests.Pruning;

/// <summary>
/// The prune step's <c>layers</c> map on mnist-8 (Convolution28 [8x1x5x5], Convolution110 [16x8x5x5], Times212
/// [256x10]): each layer's sparsity read back from the written model, wildcards and op types, the first matching entry,
/// global scope around pinned layers, structured ratios per group, the plan -WhatIf prints, and what is refused.
/// </summary>
public sealed class LayerPruningTests(ITestOutputHelper output) : IDisposable
{
    private readonly string temp = TestAssets.TempDirectory();

    public void Dispose() => Directory.Delete(temp, recursive: true);

    private static Dictionary<string, LayerPruneSpec> Layers(params (string Pattern, double Sparsity)[] entries) =>
        entries.ToDictionary(e => e.Pattern, e => new LayerPruneSpec { Sparsity = e.Sparsity });

    /// <summary>Prunes, writes the model, loads the file back and returns each layer's fraction of zero weights.</summary>
    private Dictionary<string, double> PruneAndReadBack(PruneOptions options, CollectingLog? log = null)
    {
        var mnist = TestAssets.Require(TestAssets.Mnist, "mnist-8");
        var result = PruningRuns.Prune(mnist, options with { Storage = SparseStorage.Dense }, log: log);
        var path = Path.Combine(temp, $"{Guid.NewGuid():N}.onnx");
        ModelWriter.Save(result.Model, path);
        var written = ModelLoader.Load(path);
        var zeros = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var node in written.MainGraph.Nodes.Where(n => n.OpType is "Conv" or "MatMul"))
        {
            var weight = TensorCodec.ToSingle(ConstantSources.Find(written.MainGraph, node.Input[1])!);
            zeros[node.Name] = (double)weight.Count(w => w == 0) / weight.Length;
        }

        // ONNX Runtime runs the written model on the MNIST test set.
        var report = Evaluator.Evaluate(path, null, QuantizationAssets.MnistTest(), new EvaluationOptions { BatchSize = 500, Threads = 2 }, new CollectingLog());
        output.WriteLine($"{string.Join(", ", zeros.Select(z => $"{z.Key} {z.Value:P1}"))}: top-1 {report.Reference.Task.Top1:P2}");
        Assert.True(report.Reference.Task.Top1 > 0.9, $"top-1 {report.Reference.Task.Top1:P2}");
        return zeros;
    }

    [SkippableFact]
    public void Each_layer_takes_the_sparsity_of_its_entry_and_the_others_the_steps()
    {
        var zeros = PruneAndReadBack(new PruneOptions { Sparsity = 0.5, Layers = Layers(("Convolution28", 0.3), ("Times212", 0.7)) });

        Assert.Equal(0.3, zeros["Convolution28"], 3);
        Assert.Equal(0.5, zeros["Convolution110"], 3);
        Assert.Equal(0.7, zeros["Times212"], 3);
    }

    [SkippableFact]
    public void An_op_type_entry_with_sparsity_0_leaves_those_layers_dense()
    {
        var zeros = PruneAndReadBack(new PruneOptions { Sparsity = 0.5, Layers = Layers(("Conv", 0)) });

        Assert.Equal(0, zeros["Convolution28"]);
        Assert.Equal(0, zeros["Convolution110"]);
        Assert.Equal(0.5, zeros["Times212"], 3);
    }

    [SkippableFact]
    public void The_first_matching_entry_wins_and_wildcards_match_names()
    {
        var zeros = PruneAndReadBack(new PruneOptions { Sparsity = 0.5, Layers = Layers(("Times212", 0.7), ("Convolution1?0", 0.6), ("*", 0.2)) });

        Assert.Equal(0.7, zeros["Times212"], 3);
        Assert.Equal(0.6, zeros["Convolution110"], 3);
        Assert.Equal(0.2, zeros["Convolution28"], 3);
    }

    [SkippableFact]
    public void Under_global_scope_a_pinned_layer_keeps_its_sparsity_and_the_others_make_up_the_target()
    {
        var log = new CollectingLog();
        var zeros = PruneAndReadBack(new PruneOptions { Sparsity = 0.5, Scope = PruningScope.Global, Layers = Layers(("Times212", 0.1)) }, log);

        Assert.Equal(0.1, zeros["Times212"], 3);
        var total = zeros["Convolution28"] * 200 + zeros["Convolution110"] * 3200 + zeros["Times212"] * 2560;
        Assert.Equal(0.5, total / 5960, 2);
        var warning = Assert.Single(log.Diagnostics, d => d.Code == ErrorCodes.PruneLayersPinned);
        Assert.Contains("'Times212' (MatMul) at 10.0 %", warning.Message, StringComparison.Ordinal);
        Assert.Contains("the other 2 layer(s) share out the rest of the 50.0 % target: they average 80.1 %, all layers together 50.0 %", warning.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void An_entry_that_matches_no_prunable_layer_is_a_warning_CMP3410()
    {
        var log = new CollectingLog();
        PruneAndReadBack(new PruneOptions { Sparsity = 0.5, Layers = Layers(("Times21", 0.7), ("Plus214", 0.2)) }, log);

        var warnings = log.Diagnostics.Where(d => d.Code == ErrorCodes.PruneLayersUnmatched).ToList();
        Assert.Equal(2, warnings.Count);
        Assert.Contains("'Times21'", warnings[0].Message, StringComparison.Ordinal);
        Assert.Contains("'Plus214'", warnings[1].Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void The_plan_shows_each_layers_own_sparsity_and_the_layers_left_dense()
    {
        var mnist = TestAssets.Require(TestAssets.Mnist, "mnist-8");
        var lines = PrunePass.PlanLayers(ModelLoader.Load(mnist), new PruneOptions { Sparsity = 0.5, Layers = Layers(("Times212", 0.7), ("Convolution28", 0), ("Nothing*", 0.1)) });
        output.WriteLine(string.Join(Environment.NewLine, lines));

        Assert.Equal(
        [
            "'Convolution28' (Conv) [8x1x5x5]: left dense (layers 'Convolution28')",
            "'Convolution110' (Conv) [16x8x5x5]: 1600 of 3200 weights zeroed",
            "'Times212' (MatMul) [256x10]: 1792 of 2560 weights zeroed (layers 'Times212')",
            "layers 'Nothing*': matches no layer pruning can prune, so it has no effect",
        ], lines);
    }

    [SkippableFact]
    public void The_global_plan_gives_pinned_layers_exactly_and_the_others_about_their_share()
    {
        var mnist = TestAssets.Require(TestAssets.Mnist, "mnist-8");
        var lines = PrunePass.PlanLayers(ModelLoader.Load(mnist), new PruneOptions { Sparsity = 0.5, Scope = PruningScope.Global, Layers = Layers(("Times212", 0.1)) });

        // 2,980 of 5,960 weights go; Times212 gives 256, so the 3,400 conv weights give about 80 %.
        Assert.Contains("'Times212' (MatMul) [256x10]: 256 of 2560 weights zeroed (layers 'Times212')", lines);
        Assert.Contains("'Convolution110' (Conv) [16x8x5x5]: about 2564 of 3200 weights zeroed", lines);
    }

    [SkippableTheory]
    [InlineData(PruningMethod.NM, 0.3, null, ErrorCodes.PruneOptionConflict, "layers.Times212.sparsity is 0.3, but the N:M pattern 2:4")]
    [InlineData(PruningMethod.Unstructured, null, 2, ErrorCodes.PruneOptionConflict, "layers.Times212.heads applies to method: structured; method is unstructured")]
    [InlineData(PruningMethod.Unstructured, 1.0, null, ErrorCodes.PruneSparsity, "layers.Times212.sparsity must be in [0, 1)")]
    public void Entries_that_cannot_apply_are_refused_naming_the_entry(PruningMethod method, double? sparsity, int? heads, string code, string message)
    {
        var mnist = TestAssets.Require(TestAssets.Mnist, "mnist-8");
        var options = new PruneOptions { Method = method, Layers = new Dictionary<string, LayerPruneSpec> { ["Times212"] = new() { Sparsity = sparsity, Heads = heads } } };

        var error = Assert.Throws<CompressionException>(() => PruningRuns.Prune(mnist, options));
        Assert.Equal(code, error.Code);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
        Assert.Throws<CompressionException>(() => PrunePass.PlanLayers(ModelLoader.Load(mnist), options));
    }

    [SkippableFact]
    public void NM_takes_sparsity_0_to_leave_a_layer_dense()
    {
        var zeros = PruneAndReadBack(new PruneOptions { Method = PruningMethod.NM, Pattern = "2:4", Layers = Layers(("Convolution110", 0)) });

        Assert.Equal(0, zeros["Convolution110"]);
        Assert.Equal(0.5, zeros["Times212"], 3);
    }

    [SkippableFact]
    public void Structured_entries_set_each_groups_ratio_by_its_producing_layer()
    {
        var mnist = TestAssets.Require(TestAssets.Mnist, "mnist-8");
        var options = new PruneOptions
        {
            Method = PruningMethod.Structured,
            Reconstruct = false,
            Structured = new StructuredPruneOptions { Channels = 0.25 },
            Layers = new Dictionary<string, LayerPruneSpec> { ["Convolution28"] = new() { Channels = 0.5 }, ["Convolution1*"] = new() { Sparsity = 0 } },
        };

        var lines = PrunePass.PlanLayers(ModelLoader.Load(mnist), options);
        output.WriteLine(string.Join(Environment.NewLine, lines));
        Assert.StartsWith("Convolution28 (ConvChannels): remove 4 of 8 units", lines[0], StringComparison.Ordinal);
        Assert.Contains("left alone: Convolution110: the layers entry 'Convolution1*' removes none of its units", lines);

        var result = PruningRuns.Prune(mnist, options);
        var path = Path.Combine(temp, "structured.onnx");
        ModelWriter.Save(result.Model, path);
        var written = ModelLoader.Load(path);
        long[] Shape(string node) => ConstantSources.Find(written.MainGraph, written.MainGraph.Nodes.Single(n => n.Name == node).Input[1])!.Dims.ToArray();
        Assert.Equal([4L, 1, 5, 5], Shape("Convolution28"));
        Assert.Equal([16L, 4, 5, 5], Shape("Convolution110"));
        Assert.Equal([256L, 10], Shape("Times212"));
    }

    [SkippableFact]
    public void Structured_entries_set_heads_and_neurons_of_one_transformer_layer_apart()
    {
        var model = ModelLoader.Load(TestAssets.Require(TestAssets.MiniLm, "all-MiniLM-L6-v2"));
        var options = new PruneOptions { Method = PruningMethod.Structured, Reconstruct = false, Structured = new StructuredPruneOptions { Heads = 2, Neurons = 0.25 } };
        var uniform = StructuredPruner.Plan(model, options);
        var attention = uniform.Groups.First(g => g.Kind == ChannelGroupKind.AttentionHeads);
        var ffn = uniform.Groups.First(g => g.Kind == ChannelGroupKind.Neurons);

        var plan = StructuredPruner.Plan(model, options with
        {
            Layers = new Dictionary<string, LayerPruneSpec> { [attention.Layers[1]] = new() { Heads = 4 }, [ffn.Name] = new() { Neurons = 0.5 } },
        });
        output.WriteLine($"{attention.Name} ({string.Join(", ", attention.Layers)}); {ffn.Name}");

        Assert.Equal(4, plan.Groups.Single(g => g.Name == attention.Name).Removed);
        Assert.Equal(768, plan.Groups.Single(g => g.Name == ffn.Name).Removed);
        Assert.Equal(5, plan.Groups.Count(g => g.Kind == ChannelGroupKind.AttentionHeads && g.Removed == 2));
        Assert.Equal(5, plan.Groups.Count(g => g.Kind == ChannelGroupKind.Neurons && g.Removed == 384));
        Assert.Empty(plan.UnmatchedLayers);
    }

    [SkippableTheory]
    [InlineData(QuantizationMode.Float16, "The model computes in float16: 'Convolution28' (Conv) reads its weight 'Parameter5_fp16' as float16.")]
    [InlineData(QuantizationMode.Dynamic, "is a quantized operator")]
    public void A_quantized_model_is_refused_with_CMP3411_saying_to_prune_first(QuantizationMode mode, string message)
    {
        var mnist = TestAssets.Require(TestAssets.Mnist, "mnist-8");
        var quantized = new QuantizePass().Run(ModelLoader.Load(mnist), new QuantizeOptions { Mode = mode }, new PassContext(new CollectingLog())).Model;

        var error = Assert.Throws<CompressionException>(() => new PrunePass().Run(quantized, new PruneOptions(), new PassContext(new CollectingLog())));
        Assert.Equal(ErrorCodes.QuantizedModelRefused, error.Code);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
        Assert.Contains("prune the float model, then quantize", error.Message, StringComparison.Ordinal);
    }
}
