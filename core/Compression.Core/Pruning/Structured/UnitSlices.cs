namespace Compression.Core.Pruning.Structured;

/// <summary>
/// Index arithmetic of a tensor seen as [outer, axis, inner] around one axis, each axis index belonging to one unit of
/// a group or to none (-1: channels of other layers beside the group's, after a Concat). Span-in, span-out kernels
/// for scoring and shrinking.
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

    /// <summary>Sum of |w| (or w², <paramref name="squared"/>) of each unit's slab; <paramref name="axisUnits"/> gives the unit of each axis index.</summary>
    public static double[] Norms(ReadOnlySpan<float> values, IReadOnlyList<long> dims, int axis, int[] axisUnits, int units, bool squared)
    {
        var (outer, axisSize, inner) = Layout(dims, axis);
        var sums = new double[units];
        for (long o = 0; o < outer; o++)
        {
            for (long a = 0; a < axisSize; a++)
            {
                var unit = axisUnits[a];
                if (unit < 0)
                {
                    continue;
                }

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

    /// <summary>Each unit's slab as one contiguous vector (for distances between filters); every axis index belongs to a unit.</summary>
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

    /// <summary>The axis indices that stay: those of no unit of the group, and those of the <paramref name="kept"/> units.</summary>
    public static int[] KeptIndices(int[] axisUnits, IReadOnlyCollection<int> kept)
    {
        var keptSet = kept as ISet<int> ?? new HashSet<int>(kept);
        var indices = new List<int>(axisUnits.Length);
        for (var a = 0; a < axisUnits.Length; a++)
        {
            if (axisUnits[a] < 0 || keptSet.Contains(axisUnits[a]))
            {
                indices.Add(a);
            }
        }

        return indices.ToArray();
    }

    /// <summary>The tensor with only the slabs of the axis indices <paramref name="indices"/> (ascending), copied a run of consecutive indices at a time.</summary>
    public static float[] Keep(ReadOnlySpan<float> values, IReadOnlyList<long> dims, int axis, IReadOnlyList<int> indices)
    {
        var (outer, axisSize, inner) = Layout(dims, axis);
        var runs = new List<(int Start, int Length)>();
        foreach (var index in indices)
        {
            if (runs.Count > 0 && runs[^1].Start + runs[^1].Length == index)
            {
                runs[^1] = (runs[^1].Start, runs[^1].Length + 1);
            }
            else
            {
                runs.Add((index, 1));
            }
        }

        var result = new float[outer * indices.Count * inner];
        var target = 0L;
        for (long o = 0; o < outer; o++)
        {
            foreach (var (start, length) in runs)
            {
                var slab = (int)(length * inner);
                values.Slice((int)((o * axisSize + start) * inner), slab).CopyTo(result.AsSpan((int)target));
                target += slab;
            }
        }

        return result;
    }
}
