using Compression.Core.Data;
using Compression.Core.Evaluation;
using Compression.Core.Evaluation.Metrics;
using Compression.Core.Onnx;

namespace Compression.Core.Quantization.Fallback;

/// <summary>
/// A temporary folder where candidate models are saved so ONNX Runtime can run them: fidelity to the float model
/// on the calibration samples, and latency at batch 1 on one thread. Owns the folder: dispose it.
/// </summary>
internal sealed class CandidateWorkspace : IDisposable
{
    private readonly string folder = Path.Combine(Path.GetTempPath(), "compression", $"quantize-{Environment.ProcessId}-{Guid.NewGuid():N}");
    private readonly IDataSource data;
    private readonly CalibrationSpec spec;
    private readonly IReadOnlyDictionary<string, OutputRole> roles;
    private int saved;

    public CandidateWorkspace(OnnxModel reference, IDataSource data, CalibrationSpec spec)
    {
        Directory.CreateDirectory(folder);
        this.data = data;
        this.spec = spec;
        roles = OutputRoles.Of(reference);
        ReferencePath = Save(reference);
    }

    public string ReferencePath { get; }

    public string Save(OnnxModel model)
    {
        var path = Path.Combine(folder, $"candidate-{saved++}.onnx");
        ModelWriter.Save(model, path);
        return path;
    }

    /// <summary>The candidate against the float model on the calibration samples: the output with the lowest SQNR.</summary>
    public FidelityMetrics Fidelity(string candidatePath, CancellationToken cancellation) => Outputs(candidatePath, cancellation).MinBy(r => r.SqnrDb)!;

    /// <summary>The candidate against the float model on the calibration samples, one entry per output.</summary>
    public IReadOnlyList<FidelityMetrics> Outputs(string candidatePath, CancellationToken cancellation)
    {
        using var reference = new ModelRunner(ReferencePath);
        using var candidate = new ModelRunner(candidatePath);
        // Each output compared as what it holds: top-1 agreement only for class scores (OutputRoles).
        var accumulators = reference.OutputNames.Select(n => new FidelityAccumulator(roles.GetValueOrDefault(n) ?? OutputRoles.Unknown(n))).ToList();
        var seen = 0;
        foreach (var batch in data.FirstSamples(spec.Samples).ReadBatches(ModelSignature.Of(ModelLoader.Load(ReferencePath, LoadOptions.MetadataOnly)), spec.BatchSize, cancellation))
        {
            var expected = reference.Run(batch);
            var actual = candidate.Run(batch);
            for (var i = 0; i < accumulators.Count; i++)
            {
                accumulators[i].Add(expected[i], actual[i]);
            }

            seen += batch.Count;
            if (seen >= spec.Samples)
            {
                break;
            }
        }

        return accumulators.Select(a => a.Result()).ToList();
    }

    /// <summary>Median latency of each model (batch 1, one thread), timed side by side in alternating rounds (<see cref="Evaluator.MeasureLatencies"/>).</summary>
    public double[] InterleavedLatency(IReadOnlyList<string> paths, CancellationToken cancellation) =>
        Evaluator.MeasureLatencies(paths, data, new LatencyOptions { Batch = 1, Threads = 1, Warmup = 5, Runs = 50 }, cancellation).Select(l => l.MedianMs).ToArray();

    public void Dispose() => Directory.Delete(folder, recursive: true);
}
