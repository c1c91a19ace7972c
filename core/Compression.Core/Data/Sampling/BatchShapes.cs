using System.Globalization;

namespace Compression.Core.Data.Sampling;

/// <summary>How many samples a batch holds for a model, and the shape of one sample of an input.</summary>
public static class BatchShapes
{
    /// <summary>
    /// The batch size to read: the model's fixed batch dim when it declares one (all inputs must agree),
    /// otherwise <paramref name="requested"/>. <paramref name="isFixed"/> says the model allows no other size, so
    /// a last incomplete batch is dropped rather than read.
    /// </summary>
    public static int BatchSize(ModelSignature model, int requested, string path, out bool isFixed)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(requested);
        long? fixedBatch = null;
        foreach (var input in model.Inputs)
        {
            if (input.FixedBatch is not { } batch)
            {
                continue;
            }

            if (fixedBatch is { } other && other != batch)
            {
                throw DataErrors.Shape(path, $"The model's inputs declare different batch sizes ({other} and {batch} for '{input.Name}').");
            }

            fixedBatch = batch;
        }

        isFixed = fixedBatch is not null;
        return fixedBatch is { } size ? checked((int)size) : requested;
    }

    /// <summary>
    /// The dims of one sample of <paramref name="input"/> (its dims after the batch), given the dims the data
    /// has per sample. Known model dims must agree with the data; symbolic ones take the data's value. When the
    /// ranks differ, the element counts must agree (e.g. 784 pixels for [N,784] or [N,1,28,28]).
    /// </summary>
    public static long[] SampleDims(InputSpec input, ReadOnlySpan<long> dataDims, string path)
    {
        if (input.Dims.Length == 0)
        {
            throw DataErrors.Shape(path, $"The model input '{input}' is a scalar; a data set needs a batch dimension.");
        }

        var modelDims = input.Dims.AsSpan(1);
        var dataCount = Product(dataDims);
        if (modelDims.Length == dataDims.Length)
        {
            var dims = new long[modelDims.Length];
            for (var i = 0; i < dims.Length; i++)
            {
                if (modelDims[i] > 0 && modelDims[i] != dataDims[i])
                {
                    throw Mismatch(input, dataDims, path);
                }

                dims[i] = dataDims[i];
            }

            return dims;
        }

        var unknown = -1;
        long known = 1;
        for (var i = 0; i < modelDims.Length; i++)
        {
            if (modelDims[i] > 0)
            {
                known *= modelDims[i];
            }
            else if (unknown < 0)
            {
                unknown = i;
            }
            else
            {
                throw Mismatch(input, dataDims, path);
            }
        }

        var reshaped = modelDims.ToArray();
        if (unknown >= 0 && known > 0 && dataCount % known == 0)
        {
            reshaped[unknown] = dataCount / known;
        }
        else if (unknown >= 0 || known != dataCount)
        {
            throw Mismatch(input, dataDims, path);
        }

        return reshaped;
    }

    public static long Product(ReadOnlySpan<long> dims)
    {
        long product = 1;
        foreach (var dim in dims)
        {
            product = checked(product * dim);
        }

        return product;
    }

    /// <summary>Batch dims: the sample count followed by the sample dims.</summary>
    public static long[] WithBatch(int count, long[] sampleDims) => [count, .. sampleDims];

    private static Diagnostics.CompressionException Mismatch(InputSpec input, ReadOnlySpan<long> dataDims, string path) =>
        DataErrors.Shape(path, $"The data's samples have shape [{string.Join(",", dataDims.ToArray().Select(d => d.ToString(CultureInfo.InvariantCulture)))}] " +
            $"({Product(dataDims)} elements), which does not fit the model input {input} (after its batch dim).");
}
