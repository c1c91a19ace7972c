using Compression.Core.Data;
using Compression.Core.Evaluation;
using Compression.Core.Onnx;

namespace Compression.Core.Factorization;

/// <summary>
/// Measures what splitting one layer alone costs the model's outputs (ASVD's per-layer sensitivity): the model with
/// only that layer split runs on the first calibration samples beside the original's outputs, and the relative squared
/// error over every float output is the layer's cost. Sensitivity allocation scales each layer's spectrum by it.
/// </summary>
internal sealed class SensitivityProbe : IDisposable
{
    private readonly OnnxModel model;
    private readonly List<DataBatch> batches;
    private readonly List<IReadOnlyList<OutputValue>> reference = [];
    private readonly string folder = Path.Combine(Path.GetTempPath(), "compression", $"factor-probe-{Environment.ProcessId}-{Guid.NewGuid():N}");
    private readonly CancellationToken cancellation;

    public SensitivityProbe(OnnxModel model, IDataSource data, int samples, int batchSize, CancellationToken cancellation)
    {
        this.model = model;
        this.cancellation = cancellation;
        Directory.CreateDirectory(folder);
        batches = data.FirstSamples(samples).ReadBatches(ModelSignature.Of(model), batchSize, cancellation).ToList();
        foreach (var output in Run(model))
        {
            reference.Add(output);
        }
    }

    /// <summary>sum ||y' - y||^2 / sum ||y||^2 over the float outputs, with only <paramref name="target"/> split into <paramref name="factors"/>.</summary>
    public double RelativeError(FactorTarget target, Factors factors)
    {
        var copy = new OnnxModel(model.Proto.Clone(), model.Path); // tensor bytes are shared, not copied
        var index = model.Proto.Graph.Node.IndexOf(target.Node);
        FactorGraph.Apply(copy.MainGraph, copy.Proto.Graph.Node[index], target, factors);
        double error = 0, norm = 0;
        var b = 0;
        foreach (var outputs in Run(copy))
        {
            var batch = batches[b];
            var expected = reference[b++];
            for (var o = 0; o < outputs.Count; o++)
            {
                var x = expected[o].Values;
                var y = outputs[o].Values;
                // Padding tokens (an attention_mask's zeros) never reach the model's result: they are not counted.
                var keep = Calibration.HessianCollector.TokenMask(batch, expected[o].Shape);
                var width = keep.Length == 0 ? x.Length : x.Length / keep.Length;
                for (var i = 0; i < x.Length; i++)
                {
                    if (keep.Length > 0 && !keep[i / width])
                    {
                        continue;
                    }

                    var d = (double)y[i] - x[i];
                    error += d * d;
                    norm += (double)x[i] * x[i];
                }
            }
        }

        return norm == 0 ? 0 : error / norm;
    }

    private IEnumerable<IReadOnlyList<OutputValue>> Run(OnnxModel candidate)
    {
        var path = Path.Combine(folder, "probe.onnx");
        ModelWriter.Save(candidate, path, new SaveOptions { Overwrite = true });
        using var runner = new ModelRunner(path, new RunnerOptions { Threads = Environment.ProcessorCount });
        var results = new List<IReadOnlyList<OutputValue>>(batches.Count);
        foreach (var batch in batches)
        {
            cancellation.ThrowIfCancellationRequested();
            results.Add(runner.Run(batch));
        }

        return results;
    }

    public void Dispose() => Directory.Delete(folder, recursive: true);
}
