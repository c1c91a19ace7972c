using Compression.Core.Data;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Protobuf;

namespace Compression.Core.Evaluation;

/// <summary>
/// Streams intermediate tensors of a model over a data set: the chosen values are made graph outputs of a
/// temporary copy, which ONNX Runtime runs batch by batch. Only one batch of activations exists at a time;
/// calibration and reconstruction consume them as they come.
/// </summary>
public static class ActivationCapture
{
    public static IEnumerable<(DataBatch Batch, IReadOnlyList<OutputValue> Values)> Capture(OnnxModel model, IReadOnlyList<string> values,
        IDataSource data, int batchSize, int threads = 1, CancellationToken cancellation = default)
    {
        var proto = model.Proto.Clone(); // tensor bytes are shared, not copied
        var outputs = proto.Graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var value in values)
        {
            if (outputs.Add(value))
            {
                proto.Graph.Output.Add(new ValueInfoProto { Name = value });
            }
        }

        var folder = Path.Combine(Path.GetTempPath(), "compression", $"capture-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        try
        {
            var path = Path.Combine(folder, "model.onnx");
            ModelWriter.Save(new OnnxModel(proto), path);
            using var runner = new ModelRunner(path, new RunnerOptions { Threads = threads });
            foreach (var batch in data.ReadBatches(ModelSignature.Of(model), batchSize, cancellation))
            {
                cancellation.ThrowIfCancellationRequested();
                var byName = runner.Run(batch).ToDictionary(o => o.Name, StringComparer.Ordinal);
                yield return (batch, values.Select(v => byName[v]).ToList()); // in the order asked for
            }
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
