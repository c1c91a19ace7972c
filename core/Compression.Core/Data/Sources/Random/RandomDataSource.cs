using Compression.Core.Data.Sampling;
using Compression.Core.Onnx.Tensors;

namespace Compression.Core.Data.Sources.Random;

/// <summary>
/// Values drawn at random to the model's declared input types and shapes, for passes that only need inputs of
/// the right form (no accuracy can be measured on them, and the report says so).
/// </summary>
/// <remarks>
/// Dims: the batch dim is the batch size; other symbolic dims take <see cref="DataSetSpec.Dims"/> by symbol, then
/// by input name, else 16 (a typical short sequence). Values: floating-point inputs uniform in [0, 1); integer
/// inputs whose name contains <c>input_ids</c> uniform in [0, vocab_size) when vocab_size is given; every other
/// integer or bool input (attention masks, token type ids, and ids without a vocab size) in {0, 1}.
/// Sample <c>i</c> depends only on the seed and <c>i</c>, so skip, take and shuffle pick the same samples as from a file.
/// </remarks>
public sealed class RandomDataSource : IDataSource
{
    private const long DefaultDim = 16;

    private readonly long total;
    private readonly SampleSelection selection;
    private readonly IReadOnlyDictionary<string, long> dims;
    private readonly long? vocabSize;

    public RandomDataSource(long count, SampleSelection selection, IReadOnlyDictionary<string, long>? dims = null, long? vocabSize = null, string? name = null)
    {
        if (count <= 0 || vocabSize <= 0 || dims?.Values.Any(d => d <= 0) == true)
        {
            throw DataErrors.Option(null, "Random data needs count, vocab_size and dims of at least 1.");
        }

        total = count;
        this.selection = selection;
        this.dims = dims ?? new Dictionary<string, long>();
        this.vocabSize = vocabSize;
        Name = name ?? "random";
    }

    public string Name { get; }

    public bool IsSynthetic => true;

    public long? Count => selection.Count(total);

    public IEnumerable<DataBatch> ReadBatches(ModelSignature model, int batchSize, CancellationToken cancellationToken = default)
    {
        var size = BatchShapes.BatchSize(model, batchSize, Name, out var exact);
        selection.RequireSamples(total, Name);
        var sampleDims = model.Inputs.Select(SampleDims).ToArray();
        foreach (var input in model.Inputs)
        {
            ElementConversion.Allocate(input.Type, 0, input.Name, Name);
        }

        return Read(model, sampleDims, size, exact, cancellationToken);
    }

    /// <summary>Mixes the seed and the sample index into a seed for that sample alone (SplitMix64's finalizer).</summary>
    private static int SampleSeed(int seed, long index)
    {
        var z = unchecked(((ulong)(uint)seed << 32) ^ (ulong)index) + 0x9E3779B97F4A7C15UL;
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        return (int)(z ^ (z >> 31));
    }

    private IEnumerable<DataBatch> Read(ModelSignature model, long[][] sampleDims, int size, bool exact, CancellationToken cancellationToken)
    {
        var counts = sampleDims.Select(d => checked((int)BatchShapes.Product(d))).ToArray();
        var scratch = new float[counts.DefaultIfEmpty(0).Max()];
        foreach (var indices in Batcher.Chunk(selection.Indices(checked((int)total)), size, exact, cancellationToken))
        {
            var arrays = model.Inputs.Select((input, k) => ElementConversion.Allocate(input.Type, (long)indices.Count * counts[k], input.Name, Name)).ToArray();
            for (var i = 0; i < indices.Count; i++)
            {
                var random = new System.Random(SampleSeed(selection.Seed, indices[i]));
                for (var k = 0; k < arrays.Length; k++)
                {
                    var values = scratch.AsSpan(0, counts[k]);
                    Draw(model.Inputs[k], random, values);
                    ElementConversion.Write(values, arrays[k], i * counts[k]);
                }
            }

            yield return new DataBatch(indices.Count,
                model.Inputs.Select((input, k) => new TensorData(input.Name, input.Type, BatchShapes.WithBatch(indices.Count, sampleDims[k]), arrays[k])).ToList());
        }
    }

    private void Draw(InputSpec input, System.Random random, Span<float> values)
    {
        if (ElementTypes.IsFloatingPoint(input.Type))
        {
            for (var i = 0; i < values.Length; i++)
            {
                values[i] = random.NextSingle();
            }

            return;
        }

        var upper = vocabSize is { } vocab && input.Name.Contains("input_ids", StringComparison.OrdinalIgnoreCase) ? vocab : 2;
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = random.NextInt64(upper);
        }
    }

    private long[] SampleDims(InputSpec input)
    {
        if (input.Dims.Length == 0)
        {
            throw DataErrors.Shape(Name, $"The model input '{input}' is a scalar; a data set needs a batch dimension.");
        }

        var sample = new long[input.Dims.Length - 1];
        for (var i = 0; i < sample.Length; i++)
        {
            var declared = input.Dims[i + 1];
            sample[i] = declared > 0 ? declared
                : input.Symbols[i + 1] is { } symbol && dims.TryGetValue(symbol, out var bySymbol) ? bySymbol
                : dims.TryGetValue(input.Name, out var byInput) ? byInput
                : DefaultDim;
        }

        return sample;
    }
}
