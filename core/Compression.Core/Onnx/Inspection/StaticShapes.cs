using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;

namespace Compression.Core.Onnx.Inspection;

/// <summary>
/// The shapes of a graph's values as far as they follow from the graph alone: graph inputs with their symbolic dims
/// bound, initializers, Constant nodes and value_info annotations, then per-op rules in node order (ONNX graphs are
/// topologically sorted). A dim that cannot be known is -1; a value with no rule behind it has no shape. Small
/// integer tensors (shapes, axes) are followed as values too, so <c>x.view(x.size(0), -1)</c> exports resolve.
/// </summary>
public sealed class StaticShapes
{
    private const long Unknown = -1;

    /// <summary>Integer tensors longer than this are not followed as values: shapes and axes are short.</summary>
    private const int MaxFollowedValues = 64;

    private readonly Dictionary<string, long[]> shapes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long[]> values = new(StringComparer.Ordinal);
    private readonly Dictionary<string, float[]> floatValues = new(StringComparer.Ordinal);

    private StaticShapes()
    {
    }

    /// <summary>
    /// Propagates shapes through the graph. <paramref name="dims"/> binds symbolic dims by name; a graph input's
    /// leading symbolic dim left unbound is the batch and is 1.
    /// </summary>
    public static StaticShapes Of(GraphProto graph, IReadOnlyDictionary<string, long>? dims = null)
    {
        var bound = new Dictionary<string, long>(dims ?? new Dictionary<string, long>(), StringComparer.Ordinal);
        foreach (var input in graph.Input)
        {
            var leading = input.Type?.TensorType?.Shape?.Dim.FirstOrDefault();
            if (leading is { HasDimParam: true })
            {
                bound.TryAdd(leading.DimParam, 1);
            }
        }

        var result = new StaticShapes();
        foreach (var info in graph.Input.Concat(graph.ValueInfo).Concat(graph.Output))
        {
            if (info.Type?.TensorType?.Shape is { } shape)
            {
                result.shapes[info.Name] = shape.Dim.Select(d => d.HasDimValue ? d.DimValue
                    : d.HasDimParam && bound.TryGetValue(d.DimParam, out var value) ? value : Unknown).ToArray();
            }
        }

        foreach (var tensor in graph.Initializer)
        {
            result.shapes[tensor.Name] = tensor.Dims.ToArray();
            result.FollowValues(tensor.Name, tensor);
        }

        foreach (var node in graph.Node)
        {
            if (node.OpType == "Constant" && OnnxModel.NormalizeDomain(node.Domain).Length == 0)
            {
                foreach (var tensor in ModelInspector.ConstantValues(node))
                {
                    result.shapes[node.Output[0]] = tensor.Dims.ToArray();
                    result.FollowValues(node.Output[0], tensor);
                }

                continue;
            }

            if (ShapeRules.TryGetValue(OpKey(node), out var rule))
            {
                try
                {
                    rule(node, result);
                }
                catch (Exception e) when (e is IndexOutOfRangeException or ArgumentException or DivideByZeroException or OverflowException)
                {
                    // Attributes that contradict the shapes (a malformed graph): the outputs stay unknown.
                }
            }
        }

        return result;
    }

    /// <summary>The op's key in per-op tables: the op type, domain-qualified outside the default domain.</summary>
    public static string OpKey(NodeProto node)
    {
        var domain = OnnxModel.NormalizeDomain(node.Domain);
        return domain.Length == 0 ? node.OpType : $"{domain}.{node.OpType}";
    }

    /// <summary>The value's shape with -1 for unknown dims; null when not even the rank is known.</summary>
    public long[]? Shape(string name) => name.Length > 0 && shapes.TryGetValue(name, out var shape) ? shape : null;

    /// <summary>The value's shape when every dim is known; null otherwise.</summary>
    public long[]? KnownShape(string name) => Shape(name) is { } shape && Array.TrueForAll(shape, d => d >= 0) ? shape : null;

    private long[]? Values(NodeProto node, int input) => input < node.Input.Count && values.TryGetValue(node.Input[input], out var v) ? v : null;

    private float[]? FloatValues(NodeProto node, int input) =>
        input < node.Input.Count && floatValues.TryGetValue(node.Input[input], out var v) ? v : null;

    private long[]? InputShape(NodeProto node, int input) => input < node.Input.Count ? Shape(node.Input[input]) : null;

    private void FollowValues(string name, TensorProto tensor)
    {
        if (TensorCodec.IsExternal(tensor) || TensorCodec.ElementCount(tensor) > MaxFollowedValues)
        {
            return;
        }

        var type = TensorCodec.ElementTypeOf(tensor);
        if (type == ElementType.Int64 || type == ElementType.Int32)
        {
            values[name] = TensorCodec.ToInt64(tensor);
        }
        else if (type == ElementType.Float)
        {
            floatValues[name] = TensorCodec.ToSingle(tensor); // Resize scales
        }
    }

    /// <summary>Sets an output's shape unless value_info already gave it in full (a declared shape is the graph's word).</summary>
    private void Set(NodeProto node, int output, long[]? shape)
    {
        if (shape is null || output >= node.Output.Count || node.Output[output].Length == 0)
        {
            return;
        }

        var name = node.Output[output];
        if (KnownShape(name) is null)
        {
            shapes[name] = shape;
        }
    }

    private delegate void ShapeRule(NodeProto node, StaticShapes shapes);

    private static readonly ShapeRule SameAsInput = (node, s) => s.Set(node, 0, s.InputShape(node, 0));

    private static readonly ShapeRule Broadcasting = (node, s) =>
    {
        long[]? result = [];
        for (var i = 0; i < node.Input.Count && result is not null; i++)
        {
            result = Broadcast(result, s.InputShape(node, i));
        }

        s.Set(node, 0, result);
    };

    /// <summary>Output shapes by op type; an op without an entry leaves its outputs unknown (unless value_info has them).</summary>
    private static readonly Dictionary<string, ShapeRule> ShapeRules = BuildShapeRules();

    private static Dictionary<string, ShapeRule> BuildShapeRules()
    {
        var rules = new Dictionary<string, ShapeRule>(StringComparer.Ordinal);
        foreach (var op in new[]
                 {
                     "Relu", "LeakyRelu", "PRelu", "Elu", "Selu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Erf", "Gelu",
                     "Softplus", "Softsign", "Sqrt", "Exp", "Log", "Neg", "Abs", "Reciprocal", "Floor", "Ceil", "Round", "Sign",
                     "Not", "Clip", "Softmax", "LogSoftmax", "Dropout", "BatchNormalization", "InstanceNormalization",
                     "LayerNormalization", "LRN", "QuantizeLinear", "DequantizeLinear", "com.microsoft.FastGelu",
                 })
        {
            rules[op] = SameAsInput;
        }

        foreach (var op in new[] { "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "Equal", "Less", "Greater", "And", "Or", "Where" })
        {
            rules[op] = Broadcasting;
        }

        rules["Identity"] = (node, s) => { SameAsInput(node, s); s.CopyValues(node); };
        rules["Cast"] = rules["Identity"];
        rules["DynamicQuantizeLinear"] = (node, s) => { SameAsInput(node, s); s.Set(node, 1, []); s.Set(node, 2, []); };
        rules["MatMul"] = MatMulOf(0, 1);
        rules["MatMulInteger"] = MatMulOf(0, 1);
        rules["com.microsoft.MatMulIntegerToFloat"] = MatMulOf(0, 1);
        rules["com.microsoft.DynamicQuantizeMatMul"] = MatMulOf(0, 1);
        rules["QLinearMatMul"] = MatMulOf(0, 3);
        rules["com.microsoft.MatMulNBits"] = (node, s) =>
            s.Set(node, 0, s.InputShape(node, 0) is { Length: > 0 } a ? [.. a[..^1], GraphEdits.IntAttribute(node, "N", Unknown)] : null);
        rules["Gemm"] = GemmOf(0, 1);
        rules["com.microsoft.QGemm"] = GemmOf(0, 3);
        rules["Conv"] = ConvOf(0, 1);
        rules["ConvInteger"] = ConvOf(0, 1);
        rules["QLinearConv"] = ConvOf(0, 3);
        rules["com.microsoft.FusedConv"] = ConvOf(0, 1);
        rules["ConvTranspose"] = ConvTransposeShape;
        rules["MaxPool"] = PoolShape;
        rules["AveragePool"] = PoolShape;
        rules["LpPool"] = PoolShape;
        rules["GlobalAveragePool"] = GlobalPoolShape;
        rules["GlobalMaxPool"] = GlobalPoolShape;
        rules["Flatten"] = FlattenShape;
        rules["Reshape"] = ReshapeShape;
        rules["Squeeze"] = SqueezeShape;
        rules["Unsqueeze"] = UnsqueezeShape;
        rules["Transpose"] = TransposeShape;
        rules["Concat"] = ConcatShape;
        rules["Shape"] = ShapeOfInput;
        rules["Gather"] = GatherShape;
        rules["Pad"] = PadShape;
        rules["Slice"] = SliceShape;
        rules["Resize"] = ResizeShape;
        rules["LSTM"] = RecurrentShape;
        rules["GRU"] = RecurrentShape;
        rules["RNN"] = RecurrentShape;
        rules["com.microsoft.DynamicQuantizeLSTM"] = RecurrentShape;
        foreach (var op in new[] { "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL2", "ReduceSumSquare" })
        {
            rules[op] = ReduceShape;
        }

        return rules;
    }

    private void CopyValues(NodeProto node)
    {
        if (Values(node, 0) is { } v)
        {
            values[node.Output[0]] = v;
        }
    }

    /// <summary>NumPy broadcasting; an unknown dim against 1 stays unknown, against a known dim over 1 takes it.</summary>
    private static long[]? Broadcast(long[] a, long[]? b)
    {
        if (b is null)
        {
            return null;
        }

        var rank = Math.Max(a.Length, b.Length);
        var result = new long[rank];
        for (var i = 0; i < rank; i++)
        {
            var x = i < rank - a.Length ? 1 : a[i - (rank - a.Length)];
            var y = i < rank - b.Length ? 1 : b[i - (rank - b.Length)];
            result[i] = x == 1 ? y : y == 1 ? x : x == Unknown ? y : y == Unknown ? x : Math.Max(x, y);
        }

        return result;
    }

    private static ShapeRule MatMulOf(int a, int b) => (node, s) => s.Set(node, 0, MatMulShape(s.InputShape(node, a), s.InputShape(node, b)));

    /// <summary>np.matmul: batch dims broadcast, a 1-D operand gains then loses a dim.</summary>
    internal static long[]? MatMulShape(long[]? a, long[]? b)
    {
        if (a is null || b is null || a.Length == 0 || b.Length == 0)
        {
            return null;
        }

        var left = a.Length == 1 ? [1, a[0]] : a;
        var right = b.Length == 1 ? [b[0], 1] : b;
        var batch = Broadcast(left[..^2], right[..^2])!;
        var result = new List<long>(batch);
        if (a.Length > 1)
        {
            result.Add(left[^2]);
        }

        if (b.Length > 1)
        {
            result.Add(right[^1]);
        }

        return [.. result];
    }

    private static ShapeRule GemmOf(int a, int b) => (node, s) =>
    {
        if (s.InputShape(node, a) is { Length: 2 } left && s.InputShape(node, b) is { Length: 2 } right)
        {
            var m = GraphEdits.IntAttribute(node, "transA", 0) != 0 ? left[1] : left[0];
            var n = GraphEdits.IntAttribute(node, "transB", 0) != 0 ? right[0] : right[1];
            s.Set(node, 0, [m, n]);
        }
    };

    private static long[]? Ints(NodeProto node, string name) =>
        node.Attribute.FirstOrDefault(a => a.Name == name) is { } attribute ? attribute.Ints.ToArray() : null;

    private static string AutoPad(NodeProto node) =>
        node.Attribute.FirstOrDefault(a => a.Name == "auto_pad")?.S.ToStringUtf8() is { Length: > 0 } pad ? pad : "NOTSET";

    /// <summary>The spatial output dims of a sliding window (Conv and the pools), per the ONNX operator spec.</summary>
    private static long[] SlidingWindow(NodeProto node, long[] spatial, long[] kernel, bool ceilMode)
    {
        var rank = spatial.Length;
        var strides = Ints(node, "strides") ?? Ones(rank);
        var dilations = Ints(node, "dilations") ?? Ones(rank);
        var pads = Ints(node, "pads") ?? new long[2 * rank];
        var autoPad = AutoPad(node);
        var result = new long[rank];
        for (var i = 0; i < rank; i++)
        {
            if (spatial[i] == Unknown || kernel[i] == Unknown)
            {
                result[i] = Unknown;
                continue;
            }

            var extent = dilations[i] * (kernel[i] - 1) + 1;
            var padded = autoPad switch
            {
                "SAME_UPPER" or "SAME_LOWER" => (double)spatial[i] / strides[i],
                "VALID" => (double)(spatial[i] - extent) / strides[i] + 1,
                _ => (double)(spatial[i] + pads[i] + pads[i + rank] - extent) / strides[i] + 1,
            };
            result[i] = autoPad.StartsWith("SAME", StringComparison.Ordinal) || ceilMode ? (long)Math.Ceiling(padded) : (long)Math.Floor(padded);
        }

        return result;
    }

    private static long[] Ones(int rank) => Enumerable.Repeat(1L, rank).ToArray();

    private static ShapeRule ConvOf(int x, int w) => (node, s) =>
    {
        if (s.InputShape(node, x) is { Length: > 2 } input && s.InputShape(node, w) is { } weight && weight.Length == input.Length)
        {
            var kernel = Ints(node, "kernel_shape") ?? weight[2..];
            s.Set(node, 0, [input[0], weight[0], .. SlidingWindow(node, input[2..], kernel, ceilMode: false)]);
        }
    };

    private static void ConvTransposeShape(NodeProto node, StaticShapes s)
    {
        if (s.InputShape(node, 0) is not { Length: > 2 } input || s.InputShape(node, 1) is not { } weight || weight.Length != input.Length)
        {
            return;
        }

        var rank = input.Length - 2;
        var channels = weight[1] == Unknown ? Unknown : weight[1] * GraphEdits.IntAttribute(node, "group", 1);
        if (Ints(node, "output_shape") is { } declared && declared.Length == rank)
        {
            s.Set(node, 0, [input[0], channels, .. declared]);
            return;
        }

        var kernel = Ints(node, "kernel_shape") ?? weight[2..];
        var strides = Ints(node, "strides") ?? Ones(rank);
        var dilations = Ints(node, "dilations") ?? Ones(rank);
        var pads = Ints(node, "pads") ?? new long[2 * rank];
        var outputPadding = Ints(node, "output_padding") ?? new long[rank];
        var same = AutoPad(node).StartsWith("SAME", StringComparison.Ordinal);
        var spatial = new long[rank];
        for (var i = 0; i < rank; i++)
        {
            var x = input[i + 2];
            spatial[i] = x == Unknown || kernel[i] == Unknown ? Unknown
                : same ? x * strides[i]
                : strides[i] * (x - 1) + outputPadding[i] + (kernel[i] - 1) * dilations[i] + 1 - pads[i] - pads[i + rank];
        }

        s.Set(node, 0, [input[0], channels, .. spatial]);
    }

    private static void PoolShape(NodeProto node, StaticShapes s)
    {
        if (s.InputShape(node, 0) is { Length: > 2 } input && Ints(node, "kernel_shape") is { } kernel && kernel.Length == input.Length - 2)
        {
            var ceilMode = GraphEdits.IntAttribute(node, "ceil_mode", 0) != 0;
            s.Set(node, 0, [input[0], input[1], .. SlidingWindow(node, input[2..], kernel, ceilMode)]);
        }
    }

    private static void GlobalPoolShape(NodeProto node, StaticShapes s)
    {
        if (s.InputShape(node, 0) is { Length: > 2 } input)
        {
            s.Set(node, 0, [input[0], input[1], .. Ones(input.Length - 2)]);
        }
    }

    private static long Product(ReadOnlySpan<long> dims)
    {
        long product = 1;
        foreach (var d in dims)
        {
            if (d == Unknown)
            {
                return Unknown;
            }

            product *= d;
        }

        return product;
    }

    private static int Axis(long axis, int rank) => (int)(axis < 0 ? axis + rank : axis);

    private static void FlattenShape(NodeProto node, StaticShapes s)
    {
        if (s.InputShape(node, 0) is { } input)
        {
            var axis = Axis(GraphEdits.IntAttribute(node, "axis", 1), input.Length);
            s.Set(node, 0, [Product(input.AsSpan(0, axis)), Product(input.AsSpan(axis))]);
        }
    }

    private static void ReshapeShape(NodeProto node, StaticShapes s)
    {
        if (s.Values(node, 1) is not { } target)
        {
            return;
        }

        var input = s.InputShape(node, 0);
        var allowZero = GraphEdits.IntAttribute(node, "allowzero", 0) != 0;
        var result = new long[target.Length];
        var inferred = -1;
        for (var i = 0; i < target.Length; i++)
        {
            result[i] = target[i] switch
            {
                0 when !allowZero => input is not null && i < input.Length ? input[i] : Unknown,
                -1 => Unknown,
                _ => target[i],
            };
            inferred = target[i] == -1 ? i : inferred;
        }

        if (inferred >= 0 && input is not null)
        {
            result[inferred] = Unknown;
            var total = Product(input);
            var rest = Product(result.Where((_, i) => i != inferred).ToArray());
            result[inferred] = total == Unknown || rest is Unknown or 0 ? Unknown : total / rest;
        }

        s.Set(node, 0, result);
    }

    /// <summary>Axes from the attribute (before opset 13) or the second input (from opset 13).</summary>
    private long[]? Axes(NodeProto node) => Ints(node, "axes") ?? Values(node, 1);

    private static void SqueezeShape(NodeProto node, StaticShapes s)
    {
        if (s.InputShape(node, 0) is not { } input)
        {
            return;
        }

        var axes = s.Axes(node)?.Select(a => Axis(a, input.Length)).ToHashSet();
        if (axes is null && Array.IndexOf(input, Unknown) >= 0)
        {
            return;
        }

        s.Set(node, 0, input.Where((d, i) => axes is null ? d != 1 : !axes.Contains(i)).ToArray());
    }

    private static void UnsqueezeShape(NodeProto node, StaticShapes s)
    {
        if (s.InputShape(node, 0) is not { } input || s.Axes(node) is not { } axes)
        {
            return;
        }

        var rank = input.Length + axes.Length;
        var inserted = axes.Select(a => Axis(a, rank)).ToHashSet();
        var result = new long[rank];
        for (int i = 0, from = 0; i < rank; i++)
        {
            result[i] = inserted.Contains(i) ? 1 : input[from++];
        }

        s.Set(node, 0, result);
        if (s.Values(node, 0) is { } v)
        {
            s.values[node.Output[0]] = v;
        }
    }

    private static void TransposeShape(NodeProto node, StaticShapes s)
    {
        if (s.InputShape(node, 0) is { } input)
        {
            var perm = Ints(node, "perm") ?? Enumerable.Range(0, input.Length).Reverse().Select(i => (long)i).ToArray();
            s.Set(node, 0, perm.Select(p => input[p]).ToArray());
        }
    }

    private static void ConcatShape(NodeProto node, StaticShapes s)
    {
        var inputs = Enumerable.Range(0, node.Input.Count).Select(i => s.InputShape(node, i)).ToList();
        if (inputs.Count == 0 || inputs.Any(i => i is null || i.Length != inputs[0]!.Length))
        {
            return;
        }

        var axis = Axis(GraphEdits.IntAttribute(node, "axis", 0), inputs[0]!.Length);
        var result = inputs[0]!.ToArray();
        result[axis] = inputs.Any(i => i![axis] == Unknown) ? Unknown : inputs.Sum(i => i![axis]);
        s.Set(node, 0, result);
        var parts = Enumerable.Range(0, node.Input.Count).Select(i => s.Values(node, i)).ToList();
        if (parts.TrueForAll(p => p is not null))
        {
            s.values[node.Output[0]] = parts.SelectMany(p => p!).ToArray();
        }
    }

    private static void ShapeOfInput(NodeProto node, StaticShapes s)
    {
        if (s.InputShape(node, 0) is not { } input)
        {
            return;
        }

        var start = Axis(Math.Clamp(GraphEdits.IntAttribute(node, "start", 0), -input.Length, input.Length), input.Length);
        var end = Axis(Math.Clamp(GraphEdits.IntAttribute(node, "end", input.Length), -input.Length, input.Length), input.Length);
        var slice = input[start..Math.Max(start, end)];
        s.Set(node, 0, [slice.Length]);
        if (Array.IndexOf(slice, Unknown) < 0)
        {
            s.values[node.Output[0]] = slice;
        }
    }

    private static void GatherShape(NodeProto node, StaticShapes s)
    {
        if (s.InputShape(node, 0) is not { Length: > 0 } data || s.InputShape(node, 1) is not { } indices)
        {
            return;
        }

        var axis = Axis(GraphEdits.IntAttribute(node, "axis", 0), data.Length);
        s.Set(node, 0, [.. data[..axis], .. indices, .. data[(axis + 1)..]]);
        if (data.Length == 1 && s.Values(node, 0) is { } dataValues && s.Values(node, 1) is { } at
            && Array.TrueForAll(at, i => i >= -dataValues.Length && i < dataValues.Length))
        {
            s.values[node.Output[0]] = at.Select(i => dataValues[i < 0 ? i + dataValues.Length : i]).ToArray();
        }
    }

    private static void PadShape(NodeProto node, StaticShapes s)
    {
        if (s.InputShape(node, 0) is not { } input || (Ints(node, "pads") ?? s.Values(node, 1)) is not { } pads
            || pads.Length != 2 * input.Length || node.Input.Count > 3)
        {
            // Pad with an axes input (opset 18) pads only some axes: not followed.
            return;
        }

        s.Set(node, 0, input.Select((d, i) => d == Unknown ? Unknown : d + pads[i] + pads[i + input.Length]).ToArray());
    }

    private static void ReduceShape(NodeProto node, StaticShapes s)
    {
        if (s.InputShape(node, 0) is not { } input)
        {
            return;
        }

        var keepDims = GraphEdits.IntAttribute(node, "keepdims", 1) != 0;
        var given = s.Axes(node);
        if (given is null && node.Input.Count > 1 && node.Input[1].Length > 0)
        {
            return; // axes computed at run time
        }

        var axes = given is { Length: > 0 } ? given.Select(a => Axis(a, input.Length)).ToHashSet()
            : GraphEdits.IntAttribute(node, "noop_with_empty_axes", 0) != 0 ? [] : Enumerable.Range(0, input.Length).ToHashSet();
        var result = new List<long>();
        for (var i = 0; i < input.Length; i++)
        {
            if (!axes.Contains(i))
            {
                result.Add(input[i]);
            }
            else if (keepDims)
            {
                result.Add(1);
            }
        }

        s.Set(node, 0, [.. result]);
    }

    /// <summary>Slice with starts, ends, axes and steps as inputs (opset 10+) or attributes (before).</summary>
    private static void SliceShape(NodeProto node, StaticShapes s)
    {
        if (s.InputShape(node, 0) is not { } input
            || (Ints(node, "starts") ?? s.Values(node, 1)) is not { } starts || (Ints(node, "ends") ?? s.Values(node, 2)) is not { } ends)
        {
            return;
        }

        var axes = Ints(node, "axes") ?? s.Values(node, 3) ?? Enumerable.Range(0, starts.Length).Select(i => (long)i).ToArray();
        var steps = s.Values(node, 4) ?? Ones(starts.Length);
        if (node.Input.Count > 3 && node.Input[3].Length > 0 && s.Values(node, 3) is null
            || node.Input.Count > 4 && node.Input[4].Length > 0 && s.Values(node, 4) is null)
        {
            return; // axes or steps computed at run time
        }

        var result = input.ToArray();
        var ranges = new (long Start, long End, long Step)?[input.Length];
        for (var i = 0; i < axes.Length; i++)
        {
            var axis = Axis(axes[i], input.Length);
            if (input[axis] == Unknown)
            {
                result[axis] = Unknown;
                continue;
            }

            var (start, end) = Clamp(starts[i], ends[i], steps[i], input[axis]);
            ranges[axis] = (start, end, steps[i]);
            result[axis] = Math.Max(0, (end - start + steps[i] - (steps[i] > 0 ? 1 : -1)) / steps[i]);
        }

        s.Set(node, 0, result);
        if (input.Length == 1 && s.Values(node, 0) is { } data && ranges[0] is { } range && range.Step > 0)
        {
            var sliced = new List<long>();
            for (var i = range.Start; i < range.End; i += range.Step)
            {
                sliced.Add(data[i]);
            }

            s.values[node.Output[0]] = [.. sliced];
        }
    }

    /// <summary>Start and end clamped to the dim as the Slice spec says (negatives count from the end).</summary>
    private static (long Start, long End) Clamp(long start, long end, long step, long dim)
    {
        start = start < 0 ? start + dim : start;
        end = end < 0 ? end + dim : end;
        return step > 0
            ? (Math.Clamp(start, 0, dim), Math.Clamp(end, 0, dim))
            : (Math.Clamp(start, 0, dim - 1), Math.Clamp(end, -1, dim - 1));
    }

    /// <summary>Resize to sizes (input 3) or by scales (input 2; input 1 before opset 11), flooring as the spec does.</summary>
    private static void ResizeShape(NodeProto node, StaticShapes s)
    {
        if (s.InputShape(node, 0) is not { } input)
        {
            return;
        }

        if (s.Values(node, 3) is { } sizes && sizes.Length == input.Length)
        {
            s.Set(node, 0, sizes);
        }
        else if ((s.FloatValues(node, 2) ?? s.FloatValues(node, 1)) is { } scales && scales.Length == input.Length)
        {
            s.Set(node, 0, input.Select((d, i) => d == Unknown ? Unknown : (long)Math.Floor(d * (double)scales[i])).ToArray());
        }
    }

    /// <summary>Y is [steps, directions, batch, hidden] and Y_h, Y_c [directions, batch, hidden] (layout 0; layout 1 puts batch first).</summary>
    private static void RecurrentShape(NodeProto node, StaticShapes s)
    {
        if (s.InputShape(node, 0) is not { Length: 3 } x)
        {
            return;
        }

        var hidden = GraphEdits.IntAttribute(node, "hidden_size", Unknown);
        var directions = node.Attribute.FirstOrDefault(a => a.Name == "direction")?.S.ToStringUtf8() == "bidirectional" ? 2 : 1;
        var batchFirst = GraphEdits.IntAttribute(node, "layout", 0) != 0;
        var (steps, batch) = batchFirst ? (x[1], x[0]) : (x[0], x[1]);
        s.Set(node, 0, batchFirst ? [batch, steps, directions, hidden] : [steps, directions, batch, hidden]);
        long[] state = batchFirst ? [batch, directions, hidden] : [directions, batch, hidden];
        s.Set(node, 1, state);
        s.Set(node, 2, state);
    }
}
