namespace Compression.Core.Data.Sampling;

/// <summary>Groups samples into batches, checking for cancellation between batches.</summary>
public static class Batcher
{
    /// <summary>
    /// Yields groups of <paramref name="size"/> samples; the last group may be smaller unless
    /// <paramref name="exactSize"/> (a model with a fixed batch dim), in which case it is dropped.
    /// </summary>
    public static IEnumerable<IReadOnlyList<T>> Chunk<T>(IEnumerable<T> samples, int size, bool exactSize, CancellationToken cancellationToken)
    {
        var batch = new List<T>(size);
        foreach (var sample in samples)
        {
            batch.Add(sample);
            if (batch.Count == size)
            {
                cancellationToken.ThrowIfCancellationRequested();
                yield return batch;
                batch = new List<T>(size);
            }
        }

        if (batch.Count > 0 && !exactSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return batch;
        }
    }
}
