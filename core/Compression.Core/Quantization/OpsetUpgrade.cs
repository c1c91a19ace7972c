using Compression.Core.Onnx;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Passes.Graph;

namespace Compression.Core.Quantization;

/// <summary>
/// Raises the default-domain opset import to what the quantized ops need: 10 for QuantizeLinear, 13 for per-channel
/// axis and int8 MaxPool (static mode), 21 for block-quantized DequantizeLinear (weight-only Convs). Every node of the
/// model must stay valid with the same meaning at the target. <see cref="Stable"/> lists the ops whose nodes from
/// opset 7 on do; <see cref="Changes"/> lists, per op, the opsets at which earlier nodes stop being valid as they are,
/// each with the rewrite that carries a node over or the reason it cannot be. A model holding an op in neither table,
/// or a node no rewrite carries over, is left unchanged and the reason goes back to the caller.
/// </summary>
internal static class OpsetUpgrade
{
    /// <summary>
    /// Ops whose nodes keep their attributes, inputs and inference meaning from opset 7 up to 21: later versions only
    /// add types, or attributes and inputs whose defaults give the earlier meaning.
    /// </summary>
    private static readonly HashSet<string> Stable = new(StringComparer.Ordinal)
    {
        "Conv", "ConvTranspose", "Relu", "LeakyRelu", "PRelu", "Elu", "Selu", "Celu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh",
        "Softplus", "Softsign", "ThresholdedRelu", "Shrink", "Gelu", "Mish", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool",
        "GlobalLpPool", "LpPool", "MaxUnpool", "LRN", "InstanceNormalization", "LayerNormalization", "LpNormalization",
        "MeanVarianceNormalization", "Add", "Sub", "Mul", "Div", "Pow", "Mod", "Sqrt", "Exp", "Log", "Neg", "Abs", "Reciprocal", "Floor",
        "Ceil", "Round", "Sign", "Erf", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh", "Max", "Min",
        "Sum", "Mean", "MatMul", "Gemm", "Einsum", "Reshape", "Flatten", "Transpose", "Concat", "Tile", "DepthToSpace", "SpaceToDepth",
        "Shape", "Size", "Gather", "GatherElements", "GatherND", "ScatterElements", "ScatterND", "Cast", "CastLike", "Identity", "Constant",
        "ConstantOfShape", "Expand", "Where", "Equal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual", "Not", "And", "Or", "Xor",
        "IsNaN", "IsInf", "NonZero", "OneHot", "Compress", "CumSum", "Trilu", "ArgMax", "ArgMin", "Range", "If", "Loop", "LSTM", "GRU",
        "RNN", "NonMaxSuppression", "ReverseSequence", "Unique", "EyeLike",
    };

    private static readonly Change[] ReduceAxesInput18 = [new(18, "axes became an input", AxesInput)];
    private static readonly Change[] NormalizesOverOneAxis = [new(13, "it normalizes over its axis alone instead of every axis from it on", SoftmaxOverFlattened)];

    /// <summary>Per op, the opsets at which nodes of earlier versions stop being valid as they are, in increasing order.</summary>
    private static readonly Dictionary<string, Change[]> Changes = new(StringComparer.Ordinal)
    {
        ["BatchNormalization"] =
        [
            new(9, "the spatial attribute was removed", DropSpatial, (node, _, _) => AttributeOf(node, "spatial")?.I is 0 ? "it normalizes per activation (spatial = 0)" : null),
            new(14, "its running statistics became training outputs", Refuse: (node, _, _) => node.Output.Count > 1 ? "it computes training statistics" : null),
        ],
        ["Clip"] = [new(11, "min and max became inputs", MinMaxInputs)],
        ["Dropout"] =
        [
            new(10, "its mask became bool", Refuse: (node, graph, _) => node.Output.Count > 1 && node.Output[1].Length > 0 && IsRead(graph, node.Output[1]) ? "its mask is read" : null),
            new(12, "ratio became an input", DropRatio),
        ],
        ["GridSample"] = [new(20, "its modes were renamed", RenameGridSampleModes)],
        ["GroupNormalization"] = [Unsupported(21, "its scale and bias went from one per group to one per channel")],
        ["Hardmax"] = NormalizesOverOneAxis,
        ["LogSoftmax"] = NormalizesOverOneAxis,
        ["Pad"] = [new(11, "pads and value became inputs", PadInputs, (node, _, target) =>
            target < 15 && PadValue(node) != 0 ? "its non-zero value needs CastLike (opset 15) to take the data's type" : null)],
        ["ReduceL1"] = ReduceAxesInput18,
        ["ReduceL2"] = ReduceAxesInput18,
        ["ReduceLogSum"] = ReduceAxesInput18,
        ["ReduceLogSumExp"] = ReduceAxesInput18,
        ["ReduceMax"] = ReduceAxesInput18,
        ["ReduceMean"] = ReduceAxesInput18,
        ["ReduceMin"] = ReduceAxesInput18,
        ["ReduceProd"] = ReduceAxesInput18,
        ["ReduceSum"] = [new(13, "axes became an input", AxesInput)],
        ["ReduceSumSquare"] = ReduceAxesInput18,
        ["Resize"] = [Unsupported(11, "its coordinate mapping and nearest rounding changed")],
        ["RoiAlign"] = [new(16, "its default coordinate mapping changed", KeepOutputHalfPixel)],
        ["Scatter"] = [new(11, "it was renamed ScatterElements", edit => edit.Node.OpType = "ScatterElements")],
        ["Slice"] = [new(10, "starts, ends and axes became inputs", SliceInputs)],
        ["Softmax"] = NormalizesOverOneAxis,
        ["Split"] = [new(13, "split became an input", SplitInput), new(18, "an even split names its number of outputs", NumOutputs)],
        ["Squeeze"] = [new(13, "axes became an input", AxesInput)],
        ["TopK"] = [new(10, "k became an input", KInput)],
        ["Unsqueeze"] = [new(13, "axes became an input", AxesInput)],
        ["Upsample"] = [Unsupported(10, "it was deprecated for Resize")],
    };

    /// <summary>
    /// Raises the import to <paramref name="target"/>; returns null when done (or nothing was needed), else why not
    /// ("Upsample: it was deprecated for Resize at opset 10"), with the model untouched.
    /// </summary>
    public static string? TryRaise(OnnxModel model, long target)
    {
        var current = model.OpsetVersion("") ?? 1;
        if (current >= target)
        {
            return null;
        }

        var graphs = GraphScopes.InnermostFirst(model);
        foreach (var graph in graphs)
        {
            foreach (var node in graph.Nodes)
            {
                if (GraphScopes.IsStandard(node) && Refusal(graph, node, current, target) is { } reason)
                {
                    return $"{node.OpType}: {reason}";
                }
            }
        }

        var names = GraphScopes.AllValueNames(model);
        foreach (var graph in graphs)
        {
            foreach (var node in graph.Nodes.ToList())
            {
                if (GraphScopes.IsStandard(node) && Changes.TryGetValue(node.OpType, out var changes))
                {
                    foreach (var change in changes.Where(c => c.Opset > current && c.Opset <= target))
                    {
                        change.Rewrite?.Invoke(new Edit(graph, node, names));
                    }
                }
            }
        }

        foreach (var graph in graphs)
        {
            graph.SortTopologically();
        }

        foreach (var opset in model.Proto.OpsetImport)
        {
            if (OnnxModel.NormalizeDomain(opset.Domain).Length == 0)
            {
                opset.Version = target;
            }
        }

        model.Proto.IrVersion = Math.Max(model.Proto.IrVersion, IrVersionFor(target));
        return null;
    }

    /// <summary>
    /// The IR version ONNX released with an opset (IR 7 with opset 13, 10 with 21): ONNX Runtime refuses a model whose
    /// IR is older than its opsets (IR 3 models such as mnist-8), and int4 tensors need IR 10.
    /// </summary>
    private static long IrVersionFor(long opset) => opset switch
    {
        >= 21 => 10,
        >= 19 => 9,
        >= 14 => 8,
        _ => 7,
    };

    /// <summary>Why a node cannot move from <paramref name="current"/> to <paramref name="target"/>, or null when it can.</summary>
    private static string? Refusal(OnnxGraph graph, NodeProto node, long current, long target)
    {
        if (Stable.Contains(node.OpType))
        {
            return null;
        }

        if (!Changes.TryGetValue(node.OpType, out var changes))
        {
            return $"no rule carries it from opset {current} to {target}";
        }

        foreach (var change in changes.Where(c => c.Opset > current && c.Opset <= target))
        {
            if (change.Refuse?.Invoke(node, graph, target) is { } reason)
            {
                return $"{change.What} at opset {change.Opset} and {reason}";
            }

            if (change.Rewrite is null && change.Refuse is null)
            {
                return $"{change.What} at opset {change.Opset}";
            }
        }

        return null;
    }

    private static Change Unsupported(int opset, string what) => new(opset, what);

    private static bool IsRead(OnnxGraph graph, string value) => graph.Consumers(value).Count > 0 || graph.IsGraphOutput(value);

    /// <summary>Opset 11 reads min and max as inputs.</summary>
    private static void MinMaxInputs(Edit edit)
    {
        var min = Take(edit.Node, "min");
        var max = Take(edit.Node, "max");
        edit.Node.Input.Add(min is null ? "" : edit.Scalar("min", min.F));
        edit.Node.Input.Add(max is null ? "" : edit.Scalar("max", max.F));
        while (edit.Node.Input.Count > 1 && edit.Node.Input[^1].Length == 0)
        {
            edit.Node.Input.RemoveAt(edit.Node.Input.Count - 1);
        }
    }

    /// <summary>Opset 10 reads starts, ends and axes as inputs, with the same clamping.</summary>
    private static void SliceInputs(Edit edit)
    {
        var starts = Take(edit.Node, "starts")!;
        var ends = Take(edit.Node, "ends")!;
        var axes = Take(edit.Node, "axes");
        edit.Node.Input.Add(edit.Int64s("starts", starts.Ints));
        edit.Node.Input.Add(edit.Int64s("ends", ends.Ints));
        if (axes is not null)
        {
            edit.Node.Input.Add(edit.Int64s("axes", axes.Ints));
        }
    }

    /// <summary>Squeeze, Unsqueeze and the reductions: the axes attribute becomes the second input (none: all axes, as before).</summary>
    private static void AxesInput(Edit edit)
    {
        if (Take(edit.Node, "axes") is { } axes)
        {
            edit.Node.Input.Add(edit.Int64s("axes", axes.Ints));
        }
    }

    /// <summary>Opset 13 reads the split sizes as the second input.</summary>
    private static void SplitInput(Edit edit)
    {
        if (Take(edit.Node, "split") is { } split)
        {
            edit.Node.Input.Add(edit.Int64s("split", split.Ints));
        }
    }

    /// <summary>From opset 18 a Split without sizes must say into how many outputs it splits evenly.</summary>
    private static void NumOutputs(Edit edit)
    {
        if (edit.Node.Input.Count < 2 || edit.Node.Input[1].Length == 0)
        {
            edit.Node.Attribute.Add(GraphEdits.Int("num_outputs", edit.Node.Output.Count));
        }
    }

    /// <summary>Dropout does nothing at inference whatever its ratio; opset 12 reads the ratio as an input, so the attribute goes.</summary>
    private static void DropRatio(Edit edit) => Take(edit.Node, "ratio");

    /// <summary>Spatial = 1 (the default) is what opset 9 always does.</summary>
    private static void DropSpatial(Edit edit) => Take(edit.Node, "spatial");

    /// <summary>Opset 11 reads pads as an input and the constant value as a third input of the data's type (CastLike from 15 on).</summary>
    private static void PadInputs(Edit edit)
    {
        var value = PadValue(edit.Node);
        Take(edit.Node, "value");
        var pads = Take(edit.Node, "pads")!;
        edit.Node.Input.Add(edit.Int64s("pads", pads.Ints));
        if (value == 0)
        {
            return;
        }

        var castLike = GraphEdits.Node("CastLike", edit.Unique("value_cast"), [edit.Scalar("value", value), edit.Node.Input[0]], [edit.Unique("value_typed")]);
        edit.Graph.InsertNodeBefore(edit.Node, castLike);
        edit.Node.Input.Add(castLike.Output[0]);
    }

    private static float PadValue(NodeProto node) => AttributeOf(node, "value")?.F ?? 0f;

    /// <summary>Opset 10 reads k as a 1-element int64 input.</summary>
    private static void KInput(Edit edit)
    {
        var k = Take(edit.Node, "k")!;
        edit.Node.Input.Add(edit.Int64s("k", [k.I]));
    }

    /// <summary>Opset 16 changed the default mapping to half_pixel; the node keeps the one it was made with.</summary>
    private static void KeepOutputHalfPixel(Edit edit)
    {
        if (AttributeOf(edit.Node, "coordinate_transformation_mode") is null)
        {
            edit.Node.Attribute.Add(new AttributeProto
            {
                Name = "coordinate_transformation_mode", Type = AttributeProto.Types.AttributeType.String,
                S = Google.Protobuf.ByteString.CopyFromUtf8("output_half_pixel"),
            });
        }
    }

    /// <summary>Opset 20 calls bilinear linear and bicubic cubic.</summary>
    private static void RenameGridSampleModes(Edit edit)
    {
        if (AttributeOf(edit.Node, "mode") is { } mode && mode.S.ToStringUtf8() is "bilinear" or "bicubic")
        {
            mode.S = Google.Protobuf.ByteString.CopyFromUtf8(mode.S.ToStringUtf8() == "bilinear" ? "linear" : "cubic");
        }
    }

    /// <summary>
    /// Before opset 13 Softmax normalizes over all dims from its axis on (the input seen as 2-D), from 13 over the axis
    /// alone. Unless the axis is already the last, the old meaning is rebuilt exactly without knowing the rank:
    /// Flatten at the axis, Softmax over the last dim, Reshape back to the input's shape.
    /// </summary>
    private static void SoftmaxOverFlattened(Edit edit)
    {
        var (graph, node) = (edit.Graph, edit.Node);
        var axis = Take(node, "axis")?.I ?? 1;
        node.Attribute.Add(GraphEdits.Int("axis", -1));
        if (axis == -1)
        {
            return;
        }

        var input = node.Input[0];
        var output = node.Output[0];
        var shape = edit.Unique("input_shape");
        var flat = edit.Unique("flat_input");
        var flatOutput = edit.Unique("flat");
        var flatten = GraphEdits.Node("Flatten", flat, [input], [flat]);
        flatten.Attribute.Add(GraphEdits.Int("axis", axis));
        graph.InsertNodeBefore(node, GraphEdits.Node("Shape", shape, [input], [shape]));
        graph.InsertNodeBefore(node, flatten);
        node.Input[0] = flat;
        node.Output[0] = flatOutput;
        graph.AddNode(GraphEdits.Node("Reshape", output + "_restore_shape", [flatOutput, shape], [output]));
    }

    private static AttributeProto? AttributeOf(NodeProto node, string name) => node.Attribute.FirstOrDefault(a => a.Name == name);

    private static AttributeProto? Take(NodeProto node, string name)
    {
        for (var i = 0; i < node.Attribute.Count; i++)
        {
            if (node.Attribute[i].Name == name)
            {
                var attribute = node.Attribute[i];
                node.Attribute.RemoveAt(i);
                return attribute;
            }
        }

        return null;
    }

    /// <summary>
    /// At <see cref="Opset"/> earlier nodes of the op stop being valid as they are (<see cref="What"/> changed).
    /// <see cref="Rewrite"/> carries a node over (none needed when null); <see cref="Refuse"/> says why a node cannot be
    /// carried to the target opset, or null. A change with neither cannot be carried over at all.
    /// </summary>
    private sealed record Change(int Opset, string What, Action<Edit>? Rewrite = null, Func<NodeProto, OnnxGraph, long, string?>? Refuse = null);

    /// <summary>One node being carried over, with what its rewrite needs to add inputs.</summary>
    private sealed record Edit(OnnxGraph Graph, NodeProto Node, HashSet<string> Names)
    {
        public string Unique(string what) => GraphScopes.UniqueName(Names, $"{Node.Output[0]}_{what}");

        public string Scalar(string what, float value)
        {
            var name = Unique(what);
            Graph.SetInitializer(TensorCodec.FromSingle(name, [], [value], ElementType.Float));
            return name;
        }

        public string Int64s(string what, IReadOnlyList<long> values)
        {
            var name = Unique(what);
            Graph.SetInitializer(TensorCodec.FromInt64(name, [values.Count], values.ToArray()));
            return name;
        }
    }
}
