using System.Text.Json.Nodes;
using Compression.Core.Diagnostics;
using Compression.Core.Passes;
using Compression.Core.Pipeline;
using Compression.Core.Pruning;
using Compression.Core.Quantization;
using Compression.Core.Recipes;
using Compression.Core.Tests.Corpus;
using Compression.Core.Tests.Support;

namespace Compression.Core.Tests.Pipeline;

/// <summary>
/// Every method reports the layers it touched in the same row shape, the typed result says what it did, and the JSON
/// report carries both (snake_case, the rows under <c>result.layers</c>). On a corpus CNN with Convs and a Gemm.
/// </summary>
public sealed class StepResultTests : IDisposable
{
    private readonly string folder = TestAssets.TempDirectory();

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [SkippableTheory]
    [InlineData("quantize-dynamic", typeof(DynamicQuantizeResult))]
    [InlineData("quantize-static-qdq", typeof(StaticQuantizeResult))]
    [InlineData("quantize-int4", typeof(WeightOnlyQuantizeResult))]
    [InlineData("prune-unstructured", typeof(SparsePruneResult))]
    [InlineData("prune-structured", typeof(StructuredPruneResult))]
    public void Each_method_reports_its_layers_as_rows_and_the_report_carries_them(string step, Type resultType)
    {
        ExportCorpus.RequireData();
        var output = Path.Combine(folder, step + ".onnx");
        var result = CompressionPipeline.Run(new CompressionRequest(ExportCorpus.Models["residual_cnn"].Path,
            RecipeParser.Load(Path.Combine(ExportCorpus.SweepFolder, step + ".yaml"))) { OutputPath = output }, new CollectingLog());

        var typed = Assert.Single(result.Steps).Result;
        Assert.IsType(resultType, typed);
        Assert.NotEmpty(typed.Layers);
        foreach (var row in typed.Layers)
        {
            Assert.False(string.IsNullOrEmpty(row.Node) || string.IsNullOrEmpty(row.OpType) || string.IsNullOrEmpty(row.Action), row.ToString());
            Assert.NotEmpty(row.Shape);
            if (row.BytesBefore is { } before && row.BytesAfter is { } after)
            {
                Assert.True(after < before || step.StartsWith("prune-unstructured", StringComparison.Ordinal), row.ToString());
            }
        }

        if (typed is WeightOnlyQuantizeResult weightOnly)
        {
            Assert.Equal(weightOnly.WeightBytesAfter, typed.Layers.Sum(l => l.BytesAfter!.Value));
            Assert.Equal(weightOnly.WeightBytesBefore, typed.Layers.Sum(l => l.BytesBefore!.Value));
        }

        if (typed is PruneResult)
        {
            Assert.All(typed.Layers, l => Assert.InRange(l.Sparsity!.Value, 0, 1));
            Assert.Contains(typed.Layers, l => l.Sparsity > 0.1);
        }

        var report = JsonNode.Parse(File.ReadAllText(result.ReportPath!))!;
        var written = report["steps"]![0]!["result"]!;
        Assert.Equal(typed.Layers.Count, written["layers"]!.AsArray().Count);
        Assert.Equal(typed.Layers[0].Node, (string?)written["layers"]![0]!["node"]);
        Assert.Equal(typed.Layers[0].OpType, (string?)written["layers"]![0]!["op_type"]);
        Assert.DoesNotContain(typed.ToString(), "System.Collections", StringComparison.Ordinal);
    }
}
