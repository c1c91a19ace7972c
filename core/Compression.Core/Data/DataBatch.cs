namespace Compression.Core.Data;

/// <summary>
/// A batch of samples: the model's inputs (matched to the model by name), and optionally labels.
/// For sentence pairs, <see cref="PairedInputs"/> holds the second sentence of each pair and
/// <see cref="Labels"/> the gold similarity scores; a model is then run on both and the outputs compared.
/// </summary>
public sealed class DataBatch
{
    public DataBatch(int count, IReadOnlyList<TensorData> inputs, TensorData? labels = null, IReadOnlyList<TensorData>? pairedInputs = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        Count = count;
        Inputs = inputs;
        Labels = labels;
        PairedInputs = pairedInputs;
    }

    /// <summary>Samples in the batch (the first dimension of every input).</summary>
    public int Count { get; }

    public IReadOnlyList<TensorData> Inputs { get; }

    /// <summary>Class indices (int64, one per sample) or scores (float, one per sample).</summary>
    public TensorData? Labels { get; }

    public IReadOnlyList<TensorData>? PairedInputs { get; }
}
