namespace Compression.Core.Pruning.Structured;

/// <summary>
/// Index arithmetic of a tensor seen as [outer, units x block, inner] around one axis: unit u is the slab of
/// axis indices [u * block, (u + 1) * block). Span-in, span-out kernels for scoring and shrinking.
/// </summary>
internal static class UnitSlices
{
    public static (long Outer, long AxisSize, long Inner) Layout(IReadOnlyList<long> dims, int axis)
    {
        long outer = 1, inner = 1;
        for (var i = 0; i < axis; i++)
        {
            outer *= dims[i];
        }

        for (var i = axis + 1; i < dims.Count; i++)
        {
            inner *= dims[i];
        }

        return (outer, dims[axis], inner);
    }

    /// <summary>Sum of |w| (or w², <paramref name="squared"/>) of each unit's slab.</summary>
    public static double[] Norms(ReadOnlySpan<float> values, IReadOnlyList<long> dims, int axis, int block, int units, bool squared)
    {
        var (outer, axisSize, inner) = Layout(dims, axis);
        var sums = new double[units];
        for (long o = 0; o < outer; o++)
        {
            for (long a = 0; a < axisSize; a++)
            {
                var unit = (int)(a / block);
                var row = values.Slice((int)((o * axisSize + a) * inner), (int)inner);
                double sum = 0;
                foreach (var v in row)
                {
                    sum += squared ? (double)v * v : Math.Abs(v);
                }

                sums[unit] += sum;
            }
        }

        return sums;
    }

    /// <summary>Each unit's slab as one contiguous vector (for distances between filters).</summary>
    public static float[][] UnitVectors(ReadOnlySpan<float> values, IReadOnlyList<long> dims, int axis, int block, int units)
    {
        var (outer, axisSize, inner) = Layout(dims, axis);
        var length = (int)(outer * block * inner);
        var vectors = new float[units][];
        for (var u = 0; u < units; u++)
        {
            vectors[u] = new float[length];
        }

        var position = new int[units];
        for (long o = 0; o < outer; o++)
        {
            for (long a = 0; a < axisSize; a++)
            {
                var unit = (int)(a / block);
                values.Slice((int)((o * axisSize + a) * inner), (int)inner).CopyTo(vectors[unit].AsSpan(position[unit]));
                position[unit] += (int)inner;
            }
        }

        return vectors;
    }

    /// <summary>The tensor with only the slabs of <paramref name="kept"/> units (ascending) along the axis.</summary>
    public static float[] Keep(ReadOnlySpan<float> values, IReadOnlyList<long> dims, int axis, int block, IReadOnlyList<int> kept)
    {
        var (outer, axisSize, inner) = Layout(dims, axis);
        var slab = block * inner;
        var result = new float[outer * kept.Count * slab];
        var target = 0L;
        for (long o = 0; o < outer; o++)
        {
            foreach (var unit in kept)
            {
                values.Slice((int)((o * axisSize + (long)unit * block) * inner), (int)slab).CopyTo(result.AsSpan((int)target));
                target += slab;
            }
        }

        return result;
    }
}
