namespace Compression.Core.Data;

/// <summary>
/// One meaning of a calibration <c>samples</c> count in every loop that reads calibration data: the first that many
/// samples of the data set, exactly. The batch that crosses the count is cut to the samples left, so a batch size that
/// does not divide the count reads no extra samples; only a model with a fixed batch dimension above 1 reads whole
/// batches (it cannot run a smaller one), and so up to the batch that reaches the count.
/// </summary>
public static class SampleBudget
{
    /// <summary>The data set's first <paramref name="samples"/> samples, in the batches its reader asks for.</summary>
    public static IDataSource FirstSamples(this IDataSource data, int samples)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(samples);
        return new FirstSamplesSource(data, samples);
    }

    /// <summary>The first <paramref name="count"/> samples of a batch: every tensor sliced along its batch axis.</summary>
    public static DataBatch Take(DataBatch batch, int count)
    {
        if (count >= batch.Count)
        {
            return batch;
        }

        return new DataBatch(count, batch.Inputs.Select(t => Take(t, batch.Count, count)).ToList(),
            batch.Labels is { } labels ? Take(labels, batch.Count, count) : null,
            batch.PairedInputs?.Select(t => Take(t, batch.Count, count)).ToList());
    }

    /// <summary>A tensor's first <paramref name="count"/> of <paramref name="batch"/> samples; one without a batch axis is kept whole.</summary>
    private static TensorData Take(TensorData tensor, int batch, int count)
    {
        if (tensor.Shape.Length == 0 || tensor.Shape[0] != batch)
        {
            return tensor;
        }

        var perSample = tensor.ElementCount / batch;
        var values = Array.CreateInstance(tensor.Values.GetType().GetElementType()!, perSample * count);
        Array.Copy(tensor.Values, values, values.LongLength);
        var shape = (long[])tensor.Shape.Clone();
        shape[0] = count;
        return new TensorData(tensor.Name, tensor.Type, shape, values);
    }

    private sealed class FirstSamplesSource(IDataSource inner, int samples) : IDataSource
    {
        public string Name => inner.Name;

        public bool IsSynthetic => inner.IsSynthetic;

        public long? Count => inner.Count is { } count ? Math.Min(count, samples) : null;

        public IEnumerable<DataBatch> ReadBatches(ModelSignature model, int batchSize, CancellationToken cancellationToken = default)
        {
            var canCut = model.Inputs.All(i => i.FixedBatch is null or 1);
            var seen = 0;
            foreach (var batch in inner.ReadBatches(model, batchSize, cancellationToken))
            {
                var taken = canCut ? Take(batch, samples - seen) : batch;
                seen += taken.Count;
                yield return taken;
                if (seen >= samples)
                {
                    yield break;
                }
            }
        }
    }
}
