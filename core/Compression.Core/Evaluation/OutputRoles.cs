using Compression.Core.Onnx;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;

namespace Compression.Core.Evaluation;

/// <summary>
/// Decides what each output of a model holds, from how the graph computes it and its declared shape, so reports give
/// the figures that mean something for it. Top-1 agreement compares the arg-max of class scores; for a hidden state
/// or an embedding it is the arg-max of one feature, which means nothing. The rule, in order:
/// <list type="number">
/// <item>Walking back from the output over ops that keep values (Identity, Cast, Dropout, QuantizeLinear, DequantizeLinear)
/// and ops that only reshape (Reshape, Flatten, Squeeze, Unsqueeze):</item>
/// <item>a Softmax or LogSoftmax gives <b>class scores</b> along its axis (after a reshape only when that axis was its last);</item>
/// <item>a linear layer (MatMul or Gemm on a constant weight, with or without a bias Add) with two or more columns gives
/// <b>class scores</b> along the last axis, unless the output's name says embedding, hidden, feature, pool, encod,
/// vector or latent; one column is a regression (<b>other</b>);</item>
/// <item>a 1x1 Conv on a constant weight gives <b>class scores</b> along axis 1 only when the output's name says logit,
/// score, prob, class or label (a Conv map is otherwise an image or a feature map);</item>
/// <item>a Sigmoid gives independent probabilities, no single decision to agree on (<b>other</b>);</item>
/// <item>one vector per sample ([batch, dim], or [batch, dim, 1, 1]) made by pooling (GlobalAveragePool, AveragePool,
/// MaxPool, ReduceMean/Max/Sum), by Tanh (BERT's pooler) or LpNormalization, or named like an embedding, is an
/// <b>embedding</b>;</item>
/// <item>a [batch, sequence, hidden] output of a model with token inputs (an integer input of rank 2, such as
/// input_ids), or named like hidden states, is <b>hidden states</b>;</item>
/// <item>anything else is <b>other</b>: cosine, SQNR and errors only, no figure that could mislead.</item>
/// </list>
/// The evaluator adds one more piece of evidence the graph cannot give: the output the task metrics read, when the
/// data has class labels for it, holds class scores along its last axis.
/// </summary>
public static class OutputRoles
{
    private static readonly string[] EmbeddingWords = ["embed", "hidden", "feature", "pool", "encod", "vector", "latent"];
    private static readonly string[] ClassWords = ["logit", "score", "prob", "class", "label"];
    private static readonly HashSet<string> KeepValues = new(StringComparer.Ordinal) { "Identity", "Cast", "Dropout", "QuantizeLinear", "DequantizeLinear" };
    private static readonly HashSet<string> OnlyReshape = new(StringComparer.Ordinal) { "Reshape", "Flatten", "Squeeze", "Unsqueeze" };
    private static readonly HashSet<string> PoolingOps = new(StringComparer.Ordinal)
        { "GlobalAveragePool", "GlobalMaxPool", "AveragePool", "MaxPool", "ReduceMean", "ReduceMax", "ReduceSum", "Tanh", "LpNormalization" };

    /// <summary>The role of every graph output, by name.</summary>
    public static IReadOnlyDictionary<string, OutputRole> Of(OnnxModel model)
    {
        var graph = model.MainGraph;
        var tokens = HasTokenInput(model.Proto.Graph);
        return model.Proto.Graph.Output.ToDictionary(o => o.Name, o => Decide(model, graph, o, tokens), StringComparer.Ordinal);
    }

    /// <summary>The role the evaluator gives an output it knows nothing of (an extra output, an intermediate value).</summary>
    public static OutputRole Unknown(string output) => new(output, OutputKind.Other, null, "not a declared output of the model");

    /// <summary>The role of the output the task metrics read when the data has class labels for it.</summary>
    public static OutputRole Labelled(OutputRole role) => role.Kind == OutputKind.ClassScores
        ? role
        : new OutputRole(role.Output, OutputKind.ClassScores, -1, "the data has class labels for it");

    private static OutputRole Decide(OnnxModel model, OnnxGraph graph, ValueInfoProto output, bool tokenModel)
    {
        var name = output.Name;
        var tensor = output.Type?.TensorType;
        if (tensor is null || !IsFloat(tensor.ElemType))
        {
            return new OutputRole(name, OutputKind.Other, null, "not a floating-point tensor");
        }

        long?[]? dims = tensor.Shape is null ? null : tensor.Shape.Dim.Select(d => d.HasDimValue && d.DimValue > 0 ? d.DimValue : (long?)null).ToArray();
        var lower = name.ToLowerInvariant();
        var embeddingName = EmbeddingWords.Any(lower.Contains);
        var className = ClassWords.Any(lower.Contains);

        // The op that computes the values, past ops that keep them or only reshape them.
        var value = name;
        var reshaped = false;
        var producer = graph.Producer(value);
        for (var hops = 0; producer is not null && producer.Input.Count > 0 && hops < 64; hops++)
        {
            if (OnlyReshape.Contains(producer.OpType))
            {
                reshaped = true;
            }
            else if (!KeepValues.Contains(producer.OpType))
            {
                break;
            }

            value = producer.Input[0];
            producer = graph.Producer(value);
        }

        var op = producer?.OpType;
        if (op is "Softmax" or "LogSoftmax")
        {
            var opsetDefault = (model.OpsetVersion("") ?? 13) >= 13 ? -1 : 1;
            var axis = (int)IntAttribute(producer!, "axis", opsetDefault);
            if (reshaped)
            {
                return axis == -1
                    ? new OutputRole(name, OutputKind.ClassScores, -1, $"{op} over its last axis")
                    : new OutputRole(name, OutputKind.Other, null, $"{op} over axis {axis}, then reshaped: where the classes lie is not known");
            }

            if (dims is null)
            {
                return new OutputRole(name, OutputKind.ClassScores, axis, $"{op} over axis {axis}");
            }

            var at = axis < 0 ? axis + dims.Length : axis;
            if (at < 0 || at >= dims.Length)
            {
                return new OutputRole(name, OutputKind.Other, null, $"{op} over axis {axis}, outside the declared shape");
            }

            if (opsetDefault == 1 && at != dims.Length - 1)
            {
                return new OutputRole(name, OutputKind.Other, null, $"{op} over the dims from axis {at} on, flattened (opset < 13)");
            }

            return dims[at] == 1
                ? new OutputRole(name, OutputKind.Other, null, $"{op} over a single value")
                : new OutputRole(name, OutputKind.ClassScores, at, $"{op} over axis {at}");
        }

        if (producer is not null && LinearColumns(graph, producer) is { } linear)
        {
            var (layer, columns) = linear;
            if (columns is 1 || (columns is null && dims is { Length: > 0 } && dims[^1] == 1))
            {
                return new OutputRole(name, OutputKind.Other, null, $"a {layer} with one column: a regression, not class scores");
            }

            if (!embeddingName)
            {
                var width = columns is { } c ? $" of {c} columns" : "";
                return new OutputRole(name, OutputKind.ClassScores, -1, $"a {layer} on a constant weight{width} (a classifier's head)");
            }
        }

        if (producer is not null && !embeddingName && PointwiseConvChannels(graph, producer) is { } channels && channels != 1)
        {
            return className
                ? new OutputRole(name, OutputKind.ClassScores, 1, "a 1x1 Conv named like class scores")
                : new OutputRole(name, OutputKind.Other, null, "a Conv map, not known to be class scores (name it logits or scores to compare classes)");
        }

        if (op == "Sigmoid")
        {
            return new OutputRole(name, OutputKind.Other, null, "independent probabilities (Sigmoid): no single decision to agree on");
        }

        var oneVector = dims is { Length: 2 } || (dims is { Length: > 2 } && dims.Skip(2).All(d => d == 1));
        if (oneVector && ((op is not null && PoolingOps.Contains(op)) || embeddingName))
        {
            return new OutputRole(name, OutputKind.Embedding, null,
                op is not null && PoolingOps.Contains(op) ? $"one vector per sample, made by {op}" : "one vector per sample, named like an embedding");
        }

        if (dims is { Length: 3 } && (tokenModel || embeddingName))
        {
            return new OutputRole(name, OutputKind.HiddenStates, null,
                tokenModel ? "one vector per token of a model with token inputs" : "[batch, sequence, hidden], named like hidden states");
        }

        return new OutputRole(name, OutputKind.Other, null, op is null ? "an input or a constant" : $"computed by {op}: not known to be class scores or an embedding");
    }

    /// <summary>A linear layer at this node (MatMul or Gemm on a constant weight, or a bias Add after one): its name and columns when known.</summary>
    private static (string Layer, long? Columns)? LinearColumns(OnnxGraph graph, NodeProto node)
    {
        if (node.OpType == "Add" && node.Input.Count == 2)
        {
            for (var i = 0; i < 2; i++)
            {
                if (IsConstant(graph, node.Input[1 - i], 0) && graph.Producer(node.Input[i]) is { OpType: "MatMul" or "Gemm" } layer)
                {
                    return LinearColumns(graph, layer);
                }
            }

            return null;
        }

        if (node.OpType is not ("MatMul" or "Gemm") || node.Input.Count < 2 || !IsConstant(graph, node.Input[1], 0))
        {
            return null;
        }

        var weight = ConstantTensor(graph, node.Input[1]);
        long? columns = weight is null || weight.Dims.Count < 2 ? null
            : node.OpType == "Gemm" && IntAttribute(node, "transB", 0) != 0 ? weight.Dims[0] : weight.Dims[^1];
        return ($"{node.OpType} layer", columns);
    }

    /// <summary>The output channels of a Conv (or its bias Add) whose constant kernel is 1 x 1 (x 1 ...); null for anything else.</summary>
    private static long? PointwiseConvChannels(OnnxGraph graph, NodeProto node)
    {
        if (node.OpType == "Add" && node.Input.Count == 2)
        {
            for (var i = 0; i < 2; i++)
            {
                if (IsConstant(graph, node.Input[1 - i], 0) && graph.Producer(node.Input[i]) is { OpType: "Conv" } conv)
                {
                    return PointwiseConvChannels(graph, conv);
                }
            }

            return null;
        }

        return node.OpType == "Conv" && node.Input.Count >= 2 && ConstantTensor(graph, node.Input[1]) is { Dims.Count: > 2 } kernel && kernel.Dims.Skip(2).All(d => d == 1)
            ? kernel.Dims[0]
            : null;
    }

    /// <summary>An initializer, a Constant node, or a value computed only from those (a reshaped or transposed weight).</summary>
    private static bool IsConstant(OnnxGraph graph, string value, int depth)
    {
        if (value.Length == 0 || graph.Initializer(value) is not null)
        {
            return true;
        }

        var producer = graph.Producer(value);
        return producer is not null && depth < 4
            && (producer.OpType == "Constant" || (producer.Input.Count > 0 && producer.Input.All(i => IsConstant(graph, i, depth + 1))));
    }

    private static TensorProto? ConstantTensor(OnnxGraph graph, string value) =>
        graph.Initializer(value) ?? (graph.Producer(value) is { OpType: "Constant" } constant ? constant.Attribute.FirstOrDefault(a => a.Name == "value")?.T : null);

    /// <summary>An integer input of rank 2, [batch, sequence]: token ids.</summary>
    private static bool HasTokenInput(GraphProto graph)
    {
        var initializers = graph.Initializer.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        return graph.Input.Any(i => !initializers.Contains(i.Name) && i.Type?.TensorType is { } t
            && (ElementType)t.ElemType is ElementType.Int64 or ElementType.Int32 && t.Shape?.Dim.Count == 2);
    }

    private static bool IsFloat(int elementType) => (ElementType)elementType is ElementType.Float or ElementType.Float16 or ElementType.BFloat16 or ElementType.Double;

    private static long IntAttribute(NodeProto node, string name, long fallback) =>
        node.Attribute.FirstOrDefault(a => a.Name == name) is { } attribute ? attribute.I : fallback;
}
