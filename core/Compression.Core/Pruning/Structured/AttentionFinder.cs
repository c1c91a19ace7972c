using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Passes.Graph;

namespace Compression.Core.Pruning.Structured;

/// <summary>
/// Finds multi-head attention blocks as exported from PyTorch (BERT, MiniLM): Q, K and V projections (MatMul on a
/// constant weight, optional bias Add), each split into heads by a Reshape to [batch, sequence, heads, head size]
/// and a Transpose; softmax(Q Kᵀ / scale + mask) V; a Transpose and a Reshape back to [batch, sequence, heads x
/// head size]; the output projection. A head is a block of head-size columns of Q, K, V and their biases and the
/// same rows of the output projection; the Reshape constants that hold the head count and heads x head size
/// shrink with them. A block that departs from this pattern is left alone.
/// </summary>
internal static class AttentionFinder
{
    private sealed record HeadSplit(NodeProto Projection, NodeProto? BiasAdd, int BiasInput, ShapeEdit Heads, long HeadCount, long HeadSize, List<string> Values);

    public static (List<ChannelGroup> Groups, List<SkippedGroup> Skipped) Find(OnnxGraph graph)
    {
        var groups = new List<ChannelGroup>();
        var skipped = new List<SkippedGroup>();
        foreach (var context in graph.TopologicalOrder())
        {
            if (context.OpType != "MatMul" || !GraphScopes.IsStandard(context) || graph.Producer(context.Input[0]) is not { OpType: "Softmax" } softmax
                || ConstantSources.Find(graph, context.Input[1]) is not null)
            {
                continue;
            }

            var reason = TryBuild(graph, context, softmax, out var group);
            if (group is not null)
            {
                groups.Add(group);
            }
            else
            {
                skipped.Add(new SkippedGroup([ChannelGroup.Describe(context)], $"attention block: {reason}"));
            }
        }

        return (groups, skipped);
    }

    private static string? TryBuild(OnnxGraph graph, NodeProto context, NodeProto softmax, out ChannelGroup? group)
    {
        group = null;
        var values = new List<string> { softmax.Output[0], context.Output[0] };

        // Back from the softmax to Q Kᵀ through the scale and the mask.
        var current = softmax.Input[0];
        NodeProto? scores = null;
        for (var step = 0; step < 4 && graph.Producer(current) is { } node; step++)
        {
            values.Add(current);
            if (node.OpType == "MatMul")
            {
                scores = node;
                break;
            }

            if (node.OpType is not ("Add" or "Div" or "Mul") || node.Input.Count != 2)
            {
                return $"{node.OpType} '{ChannelGroup.Describe(node)}' between the scores and the softmax has no rule";
            }

            // PyTorch writes scores / scale, scores * scale and scores + mask: the scores are the first computed input.
            var scoresInput = ConstantSources.Find(graph, node.Input[0]) is null ? 0 : 1;
            var other = node.Input[1 - scoresInput];
            if (ConstantSources.Find(graph, other) is { } constant && constant.Dims.Count >= 3 && constant.Dims[^3] != 1)
            {
                return $"'{other}' holds a value per head";
            }

            current = node.Input[scoresInput];
        }

        if (scores is null)
        {
            return "no Q Kᵀ MatMul before the softmax";
        }

        var query = Split(graph, scores.Input[0], values, out var why);
        var key = query is null ? null : Split(graph, scores.Input[1], values, out why);
        var value = key is null ? null : Split(graph, context.Input[1], values, out why);
        if (query is null || key is null || value is null)
        {
            return why;
        }

        var heads = query.HeadCount;
        var size = query.HeadSize;
        if (key.HeadCount != heads || value.HeadCount != heads || key.HeadSize != size || value.HeadSize != size)
        {
            return "Q, K and V are split into different heads";
        }

        // Forward from the context: Transpose, Reshape to [batch, sequence, heads x size], output projection.
        if (SoleConsumer(graph, context.Output[0]) is not { OpType: "Transpose" } merge
            || SoleConsumer(graph, merge.Output[0]) is not { OpType: "Reshape" } reshape
            || SoleConsumer(graph, reshape.Output[0]) is not { OpType: "MatMul" } output
            || output.Input[0] != reshape.Output[0]
            || ConstantSources.Find(graph, output.Input[1]) is not { } outputWeight || outputWeight.Dims.Count != 2 || outputWeight.Dims[0] != heads * size
            || !GroupFinder.IsFloat(outputWeight))
        {
            return "the heads are not merged by a Transpose and a Reshape into a MatMul on a constant weight";
        }

        values.Add(merge.Output[0]);
        values.Add(reshape.Output[0]);
        var shapes = new List<ShapeEdit> { query.Heads, key.Heads, value.Heads };
        if (MergedWidth(graph, reshape, heads * size) is { } width)
        {
            shapes.Add(width with { PerUnit = size });
        }
        else if (!InfersWidth(graph, reshape))
        {
            return "the Reshape that merges the heads has a shape that is not followed";
        }

        var tensors = new List<CoupledTensor>();
        foreach (var split in new[] { query, key, value })
        {
            if (ConstantSources.Find(graph, split.Projection.Input[1]) is not { } weight || weight.Dims[1] != heads * size)
            {
                return $"'{split.Projection.Input[1]}' is not [hidden, heads x head size]";
            }

            tensors.Add(new CoupledTensor(split.Projection.Input[1], 1, (int)size, CoupledRole.Producer, [(split.Projection, 1)]));
            if (split.BiasAdd is { } add)
            {
                tensors.Add(new CoupledTensor(add.Input[split.BiasInput], 0, (int)size, CoupledRole.Parameter, [(add, split.BiasInput)]));
            }
        }

        var outputTensor = new CoupledTensor(output.Input[1], 0, (int)size, CoupledRole.Consumer, [(output, 1)]);
        tensors.Add(outputTensor);
        group = new ChannelGroup
        {
            Kind = ChannelGroupKind.AttentionHeads,
            Units = (int)heads,
            Producers = [query.Projection, key.Projection, value.Projection],
            Tensors = tensors,
            Shapes = shapes,
            Depthwise = [],
            Consumers = [new GroupConsumer(output, output.Input[0], outputTensor)],
            Values = values,
        };
        return null;
    }

    /// <summary>Back from a head-split value: Transposes, the Reshape to [b, s, heads, size], the bias Add, the projection MatMul.</summary>
    private static HeadSplit? Split(OnnxGraph graph, string value, List<string> values, out string? why)
    {
        why = null;
        var current = value;
        while (graph.Producer(current) is { OpType: "Transpose" } transpose && OnlyChain(graph, current))
        {
            values.Add(current);
            current = transpose.Input[0];
        }

        if (graph.Producer(current) is not { OpType: "Reshape" } reshape || !OnlyChain(graph, current))
        {
            why = $"'{value}' does not come from a Reshape into heads";
            return null;
        }

        values.Add(current);
        if (HeadCount(graph, reshape) is not { } heads)
        {
            why = $"the head count of Reshape '{ChannelGroup.Describe(reshape)}' is not a constant";
            return null;
        }

        var projected = reshape.Input[0];
        if (!OnlyChain(graph, projected))
        {
            why = $"'{projected}' is read outside the attention block";
            return null;
        }

        values.Add(projected);
        NodeProto? biasAdd = null;
        var biasInput = 0;
        if (graph.Producer(projected) is { OpType: "Add" } add)
        {
            biasInput = ConstantSources.Find(graph, add.Input[0]) is not null ? 0 : 1;
            if (ConstantSources.Find(graph, add.Input[biasInput]) is not { } bias || bias.Dims.Count != 1 || !OnlyChain(graph, add.Input[1 - biasInput]))
            {
                why = $"Add '{ChannelGroup.Describe(add)}' is not a bias";
                return null;
            }

            biasAdd = add;
            projected = add.Input[1 - biasInput];
            values.Add(projected);
        }

        if (graph.Producer(projected) is not { OpType: "MatMul" } projection || ConstantSources.Find(graph, projection.Input[1]) is not { } weight
            || weight.Dims.Count != 2 || !GroupFinder.IsFloat(weight))
        {
            why = $"'{projected}' does not come from a MatMul on a constant weight";
            return null;
        }

        var (edit, count, size) = heads;
        if (size <= 0)
        {
            size = weight.Dims[1] / count;
        }

        if (count * size != weight.Dims[1])
        {
            why = $"Reshape '{ChannelGroup.Describe(reshape)}' splits {weight.Dims[1]} columns into {count} heads of {size}";
            return null;
        }

        return new HeadSplit(projection, biasAdd, biasInput, edit, count, size, values);
    }

    /// <summary>The head count of a [b, s, heads, size] Reshape: a constant shape, or a Concat whose third input is a constant.</summary>
    private static (ShapeEdit Edit, long Heads, long Size)? HeadCount(OnnxGraph graph, NodeProto reshape)
    {
        if (ConstantSources.Find(graph, reshape.Input[1]) is { } shape)
        {
            var target = TensorCodec.ToInt64(shape);
            return target.Length == 4 && target[2] > 0 ? (new ShapeEdit(reshape.Input[1], 2, 1, reshape, 1), target[2], target[3]) : null;
        }

        if (graph.Producer(reshape.Input[1]) is { OpType: "Concat" } concat && concat.Input.Count == 4
            && ConstantSources.Find(graph, concat.Input[2]) is { } headTensor && TensorCodec.ElementCount(headTensor) == 1
            && TensorCodec.ToInt64(headTensor)[0] is > 0 and var heads)
        {
            var size = ConstantSources.Find(graph, concat.Input[3]) is { } sizeTensor && TensorCodec.ElementCount(sizeTensor) == 1 ? TensorCodec.ToInt64(sizeTensor)[0] : -1;
            return (new ShapeEdit(concat.Input[2], 0, 1, concat, 2), heads, size);
        }

        return null;
    }

    /// <summary>The element of the merging Reshape's shape that holds heads x size, when it is written out.</summary>
    private static ShapeEdit? MergedWidth(OnnxGraph graph, NodeProto reshape, long width)
    {
        if (ConstantSources.Find(graph, reshape.Input[1]) is { } shape)
        {
            var target = TensorCodec.ToInt64(shape);
            return target.Length == 3 && target[2] == width ? new ShapeEdit(reshape.Input[1], 2, 1, reshape, 1) : null;
        }

        return graph.Producer(reshape.Input[1]) is { OpType: "Concat" } concat && concat.Input.Count == 3
            && ConstantSources.Find(graph, concat.Input[2]) is { } last && TensorCodec.ElementCount(last) == 1 && TensorCodec.ToInt64(last)[0] == width
            ? new ShapeEdit(concat.Input[2], 0, 1, concat, 2)
            : null;
    }

    /// <summary>A merging shape whose last element is -1 adapts by itself.</summary>
    private static bool InfersWidth(OnnxGraph graph, NodeProto reshape) =>
        ConstantSources.Find(graph, reshape.Input[1]) is { } shape && TensorCodec.ToInt64(shape) is { Length: 3 } target && target[2] == -1;

    /// <summary>Whether a value is read by one node besides Shape ops that only look at its batch and sequence sizes.</summary>
    private static bool OnlyChain(OnnxGraph graph, string value)
    {
        if (graph.IsGraphOutput(value))
        {
            return false;
        }

        var readers = 0;
        foreach (var consumer in graph.Consumers(value))
        {
            if (consumer.OpType == "Shape" && ReadsLeadingSizes(graph, consumer))
            {
                continue;
            }

            readers++;
        }

        return readers == 1;
    }

    private static NodeProto? SoleConsumer(OnnxGraph graph, string value)
    {
        if (!OnlyChain(graph, value))
        {
            return null;
        }

        return graph.Consumers(value).FirstOrDefault(c => c.OpType != "Shape");
    }

    /// <summary>A Shape whose every reader is a Gather of index 0 or 1: batch and sequence sizes, which heads do not change.</summary>
    private static bool ReadsLeadingSizes(OnnxGraph graph, NodeProto shape)
    {
        foreach (var reader in graph.Consumers(shape.Output[0]))
        {
            if (reader.OpType != "Gather" || reader.Input[0] != shape.Output[0] || ConstantSources.Find(graph, reader.Input[1]) is not { } index
                || TensorCodec.ElementCount(index) != 1 || TensorCodec.ToInt64(index)[0] is not (0 or 1))
            {
                return false;
            }
        }

        return true;
    }
}
