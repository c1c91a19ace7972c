using Compression.Core.Data;
using Compression.Core.Diagnostics;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Passes;
using Compression.Core.Pruning;

namespace Compression.Core.Tests.Pruning;

/// <summary>Runs the prune step the way the pipeline does (graph checked after it) on a fresh copy of a model file.</summary>
internal static class PruningRuns
{
    public static PassResult Prune(string modelPath, PruneOptions options, IReadOnlyDictionary<string, IDataSource>? dataSets = null, CollectingLog? log = null)
    {
        var model = ModelLoader.Load(modelPath);
        var context = new PassContext(log ?? new CollectingLog()) { DataSets = dataSets ?? new Dictionary<string, IDataSource>() };
        var result = new PrunePass().Run(model, options, context);
        var errors = GraphChecker.Check(result.Model).Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        Assert.True(errors.Count == 0, string.Join(Environment.NewLine, errors));
        return result;
    }

    public static IReadOnlyList<LayerRow> Layers(PassResult result) => result.Result.Layers;
}
