using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;

namespace Compression.Core.Passes.Graph.Folding;

/// <summary>
/// Evaluates one node on constant inputs, for the ops exported models use to compute shapes. Returns null when it
/// cannot (an op it does not know, a type it does not hold, a result past the size limit, a division by zero):
/// the node then stays for the runtime.
/// </summary>
internal static class ConstantEvaluator
{
    public static readonly IReadOnlySet<string> Ops = new HashSet<string>(StringComparer.Ordinal)
    {
        "Identity", "Shape", "Cast", "Reshape", "Unsqueeze", "Squeeze", "Concat", "Gather", "Slice",
        "Add", "Sub", "Mul", "Div", "Equal", "Where", "Range", "ConstantOfShape",
    };

    /// <param name="node">The node to evaluate.</param>
    /// <param name="inputs">The node's inputs; null for an absent optional input or (Shape only) a non-constant one.</param>
    /// <param name="opset">The default-domain opset, which decides attributes versus inputs (axes, Slice bounds).</param>
    /// <param name="shapeOfInput">The static shape of input 0, for Shape.</param>
    /// <param name="maxElements">The largest result Range and ConstantOfShape may build.</param>
    public static HostTensor? Evaluate(NodeProto node, HostTensor?[] inputs, long opset, long[]? shapeOfInput, long maxElements)
    {
        HostTensor? Input(int i) => i < inputs.Length ? inputs[i] : null;
        long[]? IntsInput(int i) => Input(i)?.Ints;
        return node.OpType switch
        {
            "Identity" => Input(0),
            "Shape" => shapeOfInput is null ? null : Shape(node, shapeOfInput),
            "Cast" => Input(0) is { } x ? Cast(x, (ElementType)Attribute(node, "to", 0)) : null,
            "Reshape" => Input(0) is { } x && IntsInput(1) is { } shape ? Reshape(x, shape, Attribute(node, "allowzero", 0) != 0) : null,
            "Unsqueeze" => Input(0) is { } x && Axes(node, inputs, opset, 13) is { } axes ? Unsqueeze(x, axes) : null,
            "Squeeze" => Input(0) is { } x ? Squeeze(x, Axes(node, inputs, opset, 13)) : null,
            "Concat" => Concat(inputs, Attribute(node, "axis", 0)),
            "Gather" => Input(0) is { } x && IntsInput(1) is { } indices ? Gather(x, Input(1)!.Dims, indices, Attribute(node, "axis", 0)) : null,
            "Slice" => Input(0) is { } x ? Slice(node, x, inputs, opset) : null,
            "Add" or "Sub" or "Mul" or "Div" or "Equal" => Input(0) is { } a && Input(1) is { } b ? Binary(node.OpType, a, b) : null,
            "Where" => Input(0) is { Ints: not null } c && Input(1) is { } x && Input(2) is { } y ? Where(c, x, y) : null,
            "Range" => Input(0) is { } start && Input(1) is { } limit && Input(2) is { } delta ? Range(start, limit, delta, maxElements) : null,
            "ConstantOfShape" => IntsInput(0) is { } dims ? ConstantOfShape(node, dims, maxElements) : null,
            _ => null,
        };
    }

    private static long Attribute(NodeProto node, string name, long fallback)
    {
        foreach (var attribute in node.Attribute)
        {
            if (attribute.Name == name)
            {
                return attribute.I;
            }
        }

        return fallback;
    }

    private static long[]? IntsAttribute(NodeProto node, string name) =>
        node.Attribute.FirstOrDefault(a => a.Name == name)?.Ints.ToArray();

    /// <summary>Axes as an attribute before <paramref name="inputSince"/>, as input 1 from then on; null when absent.</summary>
    private static long[]? Axes(NodeProto node, HostTensor?[] inputs, long opset, long inputSince) =>
        opset < inputSince ? IntsAttribute(node, "axes") : inputs.Length > 1 ? inputs[1]?.Ints : null;

    private static long Normalize(long axis, int rank) => axis < 0 ? axis + rank : axis;

    private static HostTensor Shape(NodeProto node, long[] shape)
    {
        var rank = shape.Length;
        var start = Math.Clamp(Normalize(Attribute(node, "start", 0), rank), 0, rank);
        var end = Math.Clamp(Normalize(Attribute(node, "end", rank), rank), start, rank);
        return HostTensor.OfInts(ElementType.Int64, [end - start], shape[(int)start..(int)end]);
    }

    private static HostTensor? Cast(HostTensor x, ElementType to)
    {
        if (!HostTensor.Supports(to))
        {
            return null;
        }

        if (to == ElementType.Float)
        {
            if (x.IsFloat)
            {
                return x;
            }

            var floats = new float[x.Count];
            for (var i = 0; i < floats.Length; i++)
            {
                floats[i] = x.Ints![i];
            }

            return HostTensor.OfFloats(x.Dims, floats);
        }

        var ints = new long[x.Count];
        for (var i = 0; i < ints.Length; i++)
        {
            if (x.Floats is { } source)
            {
                // Truncation toward zero, as static_cast does; NaN and out-of-range values are left to the runtime.
                if (!float.IsFinite(source[i]) || Math.Abs(source[i]) >= 9.2e18f)
                {
                    return null;
                }

                ints[i] = to == ElementType.Bool ? (source[i] != 0 ? 1 : 0) : HostTensor.Wrap(to, (long)source[i]);
            }
            else
            {
                ints[i] = HostTensor.Wrap(to, x.Ints![i]);
            }
        }

        return HostTensor.OfInts(to, x.Dims, ints);
    }

    private static HostTensor? Reshape(HostTensor x, long[] shape, bool allowZero)
    {
        var dims = (long[])shape.Clone();
        var inferred = -1;
        long known = 1;
        for (var i = 0; i < dims.Length; i++)
        {
            if (dims[i] == 0 && !allowZero)
            {
                if (i >= x.Dims.Length)
                {
                    return null;
                }

                dims[i] = x.Dims[i];
            }

            if (dims[i] == -1)
            {
                if (inferred >= 0)
                {
                    return null;
                }

                inferred = i;
            }
            else
            {
                known *= dims[i];
            }
        }

        if (inferred >= 0)
        {
            if (known == 0 || x.Count % known != 0)
            {
                return null;
            }

            dims[inferred] = x.Count / known;
        }

        return TensorCodec.ElementCount(dims) == x.Count ? x.WithDims(dims) : null;
    }

    private static HostTensor? Unsqueeze(HostTensor x, long[] axes)
    {
        var rank = x.Dims.Length + axes.Length;
        var inserted = new bool[rank];
        foreach (var axis in axes)
        {
            var a = Normalize(axis, rank);
            if (a < 0 || a >= rank || inserted[a])
            {
                return null;
            }

            inserted[a] = true;
        }

        var dims = new long[rank];
        for (int i = 0, j = 0; i < rank; i++)
        {
            dims[i] = inserted[i] ? 1 : x.Dims[j++];
        }

        return x.WithDims(dims);
    }

    private static HostTensor? Squeeze(HostTensor x, long[]? axes)
    {
        var rank = x.Dims.Length;
        var squeezed = new bool[rank];
        for (var i = 0; i < rank; i++)
        {
            squeezed[i] = axes is null && x.Dims[i] == 1;
        }

        foreach (var axis in axes ?? [])
        {
            var a = Normalize(axis, rank);
            if (a < 0 || a >= rank || x.Dims[a] != 1)
            {
                return null;
            }

            squeezed[a] = true;
        }

        var dims = new List<long>(rank);
        for (var i = 0; i < rank; i++)
        {
            if (!squeezed[i])
            {
                dims.Add(x.Dims[i]);
            }
        }

        return x.WithDims([.. dims]);
    }

    private static HostTensor? Concat(HostTensor?[] inputs, long axisAttribute)
    {
        if (inputs.Length == 0 || inputs.Any(i => i is null) || inputs.Select(i => (i!.Type, i.IsFloat)).Distinct().Count() != 1)
        {
            return null;
        }

        var first = inputs[0]!;
        var rank = first.Dims.Length;
        var axis = (int)Normalize(axisAttribute, rank);
        if (axis < 0 || axis >= rank || inputs.Any(i => i!.Dims.Length != rank))
        {
            return null;
        }

        var dims = (long[])first.Dims.Clone();
        dims[axis] = inputs.Sum(i => i!.Dims[axis]);
        var outer = 1L;
        for (var d = 0; d < axis; d++)
        {
            outer *= dims[d];
        }

        // Values are laid out as [outer, axis, inner]; each input contributes a run of axis*inner per outer step.
        var sources = new List<(int Input, int Offset)>();
        var inner = TensorCodec.ElementCount(dims) / Math.Max(1, outer * dims[axis]);
        for (var o = 0; o < outer; o++)
        {
            for (var k = 0; k < inputs.Length; k++)
            {
                var run = (int)(inputs[k]!.Dims[axis] * inner);
                for (var e = 0; e < run; e++)
                {
                    sources.Add((k, (int)(o * run + e)));
                }
            }
        }

        if (first.IsFloat)
        {
            var floats = new float[sources.Count];
            for (var i = 0; i < floats.Length; i++)
            {
                floats[i] = inputs[sources[i].Input]!.Floats![sources[i].Offset];
            }

            return HostTensor.OfFloats(dims, floats);
        }

        var ints = new long[sources.Count];
        for (var i = 0; i < ints.Length; i++)
        {
            ints[i] = inputs[sources[i].Input]!.Ints![sources[i].Offset];
        }

        return HostTensor.OfInts(first.Type, dims, ints);
    }

    private static HostTensor? Gather(HostTensor x, long[] indexDims, long[] indices, long axisAttribute)
    {
        var rank = x.Dims.Length;
        var axis = (int)Normalize(axisAttribute, rank);
        if (axis < 0 || axis >= rank)
        {
            return null;
        }

        var axisSize = x.Dims[axis];
        long outer = 1, inner = 1;
        for (var d = 0; d < axis; d++)
        {
            outer *= x.Dims[d];
        }

        for (var d = axis + 1; d < rank; d++)
        {
            inner *= x.Dims[d];
        }

        var dims = x.Dims[..axis].Concat(indexDims).Concat(x.Dims[(axis + 1)..]).ToArray();
        var sources = new int[outer * indices.Length * inner];
        var n = 0;
        for (var o = 0; o < outer; o++)
        {
            foreach (var raw in indices)
            {
                var index = raw < 0 ? raw + axisSize : raw;
                if (index < 0 || index >= axisSize)
                {
                    return null;
                }

                for (var e = 0; e < inner; e++)
                {
                    sources[n++] = (int)((o * axisSize + index) * inner + e);
                }
            }
        }

        return x.Pick(dims, sources);
    }

    private static HostTensor? Slice(NodeProto node, HostTensor x, HostTensor?[] inputs, long opset)
    {
        long[]? starts, ends, axes, steps = null;
        if (opset < 10)
        {
            (starts, ends, axes) = (IntsAttribute(node, "starts"), IntsAttribute(node, "ends"), IntsAttribute(node, "axes"));
        }
        else
        {
            starts = inputs.Length > 1 ? inputs[1]?.Ints : null;
            ends = inputs.Length > 2 ? inputs[2]?.Ints : null;
            axes = inputs.Length > 3 ? inputs[3]?.Ints : null;
            steps = inputs.Length > 4 ? inputs[4]?.Ints : null;
            if ((node.Input.Count > 3 && node.Input[3].Length > 0 && axes is null) || (node.Input.Count > 4 && node.Input[4].Length > 0 && steps is null))
            {
                return null;
            }
        }

        if (starts is null || ends is null || starts.Length != ends.Length)
        {
            return null;
        }

        var rank = x.Dims.Length;
        var first = new long[rank];
        var step = new long[rank];
        var dims = (long[])x.Dims.Clone();
        Array.Fill(step, 1);
        for (var i = 0; i < starts.Length; i++)
        {
            var axis = (int)Normalize(axes?[i] ?? i, rank);
            var s = steps?[i] ?? 1;
            if (axis < 0 || axis >= rank || s == 0)
            {
                return null;
            }

            var size = x.Dims[axis];
            var start = starts[i] < 0 ? starts[i] + size : starts[i];
            var end = ends[i] < 0 ? ends[i] + size : ends[i];
            (start, end) = s > 0 ? (Math.Clamp(start, 0, size), Math.Clamp(end, 0, size)) : (Math.Clamp(start, -1, size - 1), Math.Clamp(end, -1, size - 1));
            first[axis] = start;
            step[axis] = s;
            dims[axis] = s > 0 ? Math.Max(0, (end - start + s - 1) / s) : Math.Max(0, (start - end - s - 1) / -s);
        }

        var strides = Strides(x.Dims);
        var count = TensorCodec.ElementCount(dims);
        var sources = new int[count];
        var position = new long[rank];
        for (var n = 0; n < count; n++)
        {
            long source = 0;
            for (var d = 0; d < rank; d++)
            {
                source += (first[d] + position[d] * step[d]) * strides[d];
            }

            sources[n] = (int)source;
            for (var d = rank - 1; d >= 0 && ++position[d] == dims[d]; d--)
            {
                position[d] = 0;
            }
        }

        return x.Pick(dims, sources);
    }

    private static HostTensor? Binary(string op, HostTensor a, HostTensor b)
    {
        if (a.Type != b.Type || Broadcast(a.Dims, b.Dims) is not { } dims)
        {
            return null;
        }

        var left = SourceMap(a.Dims, dims);
        var right = SourceMap(b.Dims, dims);
        if (op == "Equal")
        {
            var equal = new long[left.Length];
            for (var i = 0; i < equal.Length; i++)
            {
                equal[i] = a.IsFloat ? (a.Floats![left[i]] == b.Floats![right[i]] ? 1 : 0) : (a.Ints![left[i]] == b.Ints![right[i]] ? 1 : 0);
            }

            return HostTensor.OfInts(ElementType.Bool, dims, equal);
        }

        if (a.IsFloat)
        {
            var floats = new float[left.Length];
            for (var i = 0; i < floats.Length; i++)
            {
                var (x, y) = (a.Floats![left[i]], b.Floats![right[i]]);
                floats[i] = op switch { "Add" => x + y, "Sub" => x - y, "Mul" => x * y, _ => x / y };
            }

            return HostTensor.OfFloats(dims, floats);
        }

        if (a.Type == ElementType.Bool)
        {
            return null;
        }

        var ints = new long[left.Length];
        for (var i = 0; i < ints.Length; i++)
        {
            var (x, y) = (a.Ints![left[i]], b.Ints![right[i]]);
            if (op == "Div" && y == 0)
            {
                return null;
            }

            // Integer division truncates toward zero, as C++ does.
            ints[i] = HostTensor.Wrap(a.Type, op switch { "Add" => x + y, "Sub" => x - y, "Mul" => x * y, _ => x / y });
        }

        return HostTensor.OfInts(a.Type, dims, ints);
    }

    private static HostTensor? Where(HostTensor condition, HostTensor x, HostTensor y)
    {
        if (condition.Type != ElementType.Bool || x.Type != y.Type
            || Broadcast(condition.Dims, x.Dims) is not { } partial || Broadcast(partial, y.Dims) is not { } dims)
        {
            return null;
        }

        var (c, l, r) = (SourceMap(condition.Dims, dims), SourceMap(x.Dims, dims), SourceMap(y.Dims, dims));
        if (x.IsFloat)
        {
            var floats = new float[c.Length];
            for (var i = 0; i < floats.Length; i++)
            {
                floats[i] = condition.Ints![c[i]] != 0 ? x.Floats![l[i]] : y.Floats![r[i]];
            }

            return HostTensor.OfFloats(dims, floats);
        }

        var ints = new long[c.Length];
        for (var i = 0; i < ints.Length; i++)
        {
            ints[i] = condition.Ints![c[i]] != 0 ? x.Ints![l[i]] : y.Ints![r[i]];
        }

        return HostTensor.OfInts(x.Type, dims, ints);
    }

    private static HostTensor? Range(HostTensor start, HostTensor limit, HostTensor delta, long maxElements)
    {
        if (start.Count != 1 || limit.Count != 1 || delta.Count != 1 || start.Type != limit.Type || start.Type != delta.Type)
        {
            return null;
        }

        if (start.IsFloat)
        {
            var (s, l, d) = (start.Floats![0], limit.Floats![0], delta.Floats![0]);
            var count = d == 0 ? -1 : Math.Max(0, Math.Ceiling((l - s) / (double)d));
            if (count < 0 || count > maxElements)
            {
                return null;
            }

            // Accumulated, not start + i * delta: that is how the runtime's kernel rounds.
            var floats = new float[(int)count];
            var next = s;
            for (var i = 0; i < floats.Length; i++)
            {
                floats[i] = next;
                next += d;
            }

            return HostTensor.OfFloats([floats.Length], floats);
        }

        var (si, li, di) = (start.Ints![0], limit.Ints![0], delta.Ints![0]);
        var n = di == 0 ? -1 : Math.Max(0, (long)Math.Ceiling((li - si) / (double)di));
        if (n < 0 || n > maxElements)
        {
            return null;
        }

        var ints = new long[n];
        for (var i = 0; i < n; i++)
        {
            ints[i] = si + (i * di);
        }

        return HostTensor.OfInts(start.Type, [n], ints);
    }

    private static HostTensor? ConstantOfShape(NodeProto node, long[] dims, long maxElements)
    {
        if (dims.Any(d => d < 0) || dims.Aggregate(1.0, (p, d) => p * d) > maxElements)
        {
            return null;
        }

        var fill = node.Attribute.FirstOrDefault(a => a.Name == "value")?.T is { } value ? HostTensor.From(value) : HostTensor.OfFloats([1], [0f]);
        if (fill is null || fill.Count != 1)
        {
            return null;
        }

        return fill.Pick(dims, new int[TensorCodec.ElementCount(dims)]);
    }

    /// <summary>The multidirectional (numpy) broadcast of two shapes; null when they do not broadcast.</summary>
    private static long[]? Broadcast(long[] a, long[] b)
    {
        var rank = Math.Max(a.Length, b.Length);
        var dims = new long[rank];
        for (var i = 0; i < rank; i++)
        {
            var x = i < rank - a.Length ? 1 : a[i - (rank - a.Length)];
            var y = i < rank - b.Length ? 1 : b[i - (rank - b.Length)];
            if (x != y && x != 1 && y != 1)
            {
                return null;
            }

            dims[i] = x == 1 ? y : x;
        }

        return dims;
    }

    /// <summary>For each element of the broadcast shape, the index of the element of an input of shape <paramref name="from"/> it reads.</summary>
    private static int[] SourceMap(long[] from, long[] to)
    {
        var rank = to.Length;
        var strides = Strides(from);
        var map = new int[TensorCodec.ElementCount(to)];
        var position = new long[rank];
        var offset = rank - from.Length;
        for (var n = 0; n < map.Length; n++)
        {
            long source = 0;
            for (var d = offset; d < rank; d++)
            {
                if (from[d - offset] != 1)
                {
                    source += position[d] * strides[d - offset];
                }
            }

            map[n] = (int)source;
            for (var d = rank - 1; d >= 0 && ++position[d] == to[d]; d--)
            {
                position[d] = 0;
            }
        }

        return map;
    }

    private static long[] Strides(long[] dims)
    {
        var strides = new long[dims.Length];
        long stride = 1;
        for (var d = dims.Length - 1; d >= 0; d--)
        {
            strides[d] = stride;
            stride *= dims[d];
        }

        return strides;
    }
}
