using Compression.Core.Data;
using Compression.Core.Diagnostics;
using Compression.Core.Onnx;
using Compression.Core.Passes;
using Compression.Core.Pruning;
using Compression.Core.Pruning.Structured;
using Compression.Core.Tests.Support;

namespace Compression.Core.Tests.Pruning.Structured;

/// <summary>Runs the structured pruner the way the prune pass does, and the options the tests share.</summary>
internal static class StructuredTestData
{
    public const string Calibration = "calibration";

    public static PassResult Prune(OnnxModel model, PruneOptions options, IDataSource? data, ICompressionLog log)
    {
        var context = new PassContext(log) { DataSets = data is null ? new Dictionary<string, IDataSource>() : new Dictionary<string, IDataSource> { [Calibration] = data } };
        var result = new PrunePass().Run(model, options, context);
        var errors = Core.Onnx.Graphs.GraphChecker.Check(result.Model).Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        Assert.True(errors.Count == 0, $"structured pruning left an invalid graph: {string.Join(Environment.NewLine, errors)}");
        return result;
    }

    /// <summary>Magnitude only (L1, no data) or calibrated with least-squares reconstruction.</summary>
    public static PruneOptions Options(StructuredPruneOptions structured, bool reconstruct, int samples = 256, ImportanceCriterion? criterion = null) => new()
    {
        Method = PruningMethod.Structured,
        Structured = structured,
        Criterion = criterion ?? ImportanceCriterion.L1,
        Reconstruct = reconstruct,
        Calibration = reconstruct || criterion is ImportanceCriterion.Activation or ImportanceCriterion.Apoz or ImportanceCriterion.OutputError
            ? new StepCalibrationSpec { Data = Calibration, Samples = samples, BatchSize = 16 }
            : null,
    };

    public static IReadOnlyList<LayerRow> Layers(PassResult result) => PassHarness.Result<StructuredPruneResult>(result).Layers;

    public static string Describe(PassResult result) =>
        result.Result.ToString();
}
