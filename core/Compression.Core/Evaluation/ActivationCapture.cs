using Compression.Core.Data;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Protobuf;

namespace Compression.Core.Evaluation;

/// <summary>
/// Streams intermediate tensors of a model over a data set: the chosen values are made graph outputs of a
/// temporary copy, which ONNX Runtime runs batch by batch. Only one batch of activations exists at a time;
/// calibration and reconstruction consume them as they come, each value decoded from the runtime's buffer when read.
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
            using var runner = new ModelRunner(path, new RunnerOptions { Threads = threads, MemoryArena = false });
            var index = runner.OutputNames.Select((name, i) => (name, i)).ToDictionary(p => p.name, p => p.i, StringComparer.Ordinal);
            var positions = values.Select(v => index[v]).ToArray(); // in the order asked for
            foreach (var batch in data.ReadBatches(ModelSignature.Of(model), batchSize, cancellation))
            {
                cancellation.ThrowIfCancellationRequested();
                using var captured = runner.RunNative(batch);
                yield return (batch, new CapturedValues(captured, positions, runner.OutputNames));
            }
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}

/// <summary>
/// One batch's captured values, decoded from ONNX Runtime's buffers only when read (each read decodes afresh): a
/// consumer that reads them one at a time never holds the whole batch in managed memory besides the runtime's copy.
/// Valid until the capture moves to the next batch.
/// </summary>
internal sealed class CapturedValues(IReadOnlyList<Microsoft.ML.OnnxRuntime.OrtValue> outputs, int[] positions, IReadOnlyList<string> names) : IReadOnlyList<OutputValue>
{
    public int Count => positions.Length;

    public OutputValue this[int index] => ModelRunner.Decode(names[positions[index]], outputs[positions[index]]);

    public IEnumerator<OutputValue> GetEnumerator()
    {
        for (var i = 0; i < Count; i++)
        {
            yield return this[i];
        }
    }

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>
/// A batch's captured values, each decoded on its first read and kept while the batch is: for a consumer that reads
/// one value several times (every group of a depthwise Conv, the Q, K and V projections of one input).
/// </summary>
internal sealed class DecodedOnce(IReadOnlyList<OutputValue> values) : IReadOnlyList<OutputValue>
{
    private readonly OutputValue?[] decoded = new OutputValue?[values.Count];

    public int Count => values.Count;

    public OutputValue this[int index] => decoded[index] ??= values[index];

    public IEnumerator<OutputValue> GetEnumerator()
    {
        for (var i = 0; i < Count; i++)
        {
            yield return this[i];
        }
    }

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}
