namespace Compression.Core.Data;

/// <summary>
/// A data set read lazily in batches: only one batch is in memory at a time, whatever the set's size.
/// Reading is reproducible: the same options (skip, take, seed) give the same samples in the same order.
/// </summary>
public interface IDataSource
{
    /// <summary>The name the recipe gave it, or the file name.</summary>
    string Name { get; }

    /// <summary>Whether values are drawn at random rather than read (the report says so).</summary>
    bool IsSynthetic { get; }

    /// <summary>Samples after skip and take, when known without reading the data.</summary>
    long? Count { get; }

    /// <summary>
    /// Reads batches shaped for <paramref name="model"/>'s inputs. A model with a fixed batch dim gets batches
    /// of exactly that size (the last may be padded only if the model allows it; otherwise the source says so).
    /// Problems with the data (missing file, shapes or names that do not match the model) throw
    /// <see cref="Diagnostics.CompressionException"/> with a CMP11xx code, before the first batch when possible.
    /// </summary>
    IEnumerable<DataBatch> ReadBatches(ModelSignature model, int batchSize, CancellationToken cancellationToken = default);
}
