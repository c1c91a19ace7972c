using Compression.Core.Onnx;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Options;
using Compression.Core.Passes.Graph.Folding;

namespace Compression.Core.Passes.Graph;

public sealed record FoldConstantsOptions : PassOptions
{
    [Option("Largest tensor (in elements) a folded node may read or write; larger ones stay, so weights are not duplicated.", Minimum = 1)]
    public long MaxElements { get; init; } = 65_536;
}

/// <summary>
/// Evaluates nodes whose inputs are all constant (Shape: whose input has a static shape from its initializer,
/// a graph input, output or value_info) and replaces each with a Constant node holding the result, in place so the
/// order stays topological. Constants nobody reads afterwards are removed. The shape-computation ops exported
/// transformers and CNNs use are known (<see cref="ConstantEvaluator.Ops"/>); other nodes stay.
/// </summary>
public sealed class FoldConstantsPass : Pass<FoldConstantsOptions>
{
    public override string Name => "fold_constants";

    public override string Description => "Evaluates nodes whose inputs are constants (shape computations) and replaces them with Constant nodes.";

    protected override PassResult Run(OnnxModel model, FoldConstantsOptions options, PassContext context)
    {
        var opset = model.OpsetVersion("") ?? 1;
        var folded = 0;
        var removed = 0;
        foreach (var graph in GraphScopes.InnermostFirst(model))
        {
            var readByFolded = new List<string>();
            foreach (var node in graph.TopologicalOrder())
            {
                context.Cancellation.ThrowIfCancellationRequested();
                if (!GraphScopes.IsStandard(node) || !ConstantEvaluator.Ops.Contains(node.OpType) || node.Output.Count != 1)
                {
                    continue;
                }

                if (TryFold(graph, node, opset, options.MaxElements) is not { } result)
                {
                    continue;
                }

                var constant = new NodeProto { OpType = "Constant", Name = node.Name };
                constant.Output.Add(node.Output[0]);
                constant.Attribute.Add(new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = result.ToTensor(node.Output[0]) });
                graph.ReplaceNode(node, constant);
                readByFolded.AddRange(node.Input);
                folded++;
                context.Log.Verbose($"fold_constants: folded {node.OpType} '{node.Output[0]}' into {ElementTypes.OnnxName((int)result.Type)}[{string.Join(",", result.Dims)}].");
            }

            // A folded chain leaves each intermediate Constant unread; sweep until nothing more goes.
            for (var sweep = ConstantSources.RemoveUnread(graph, readByFolded); sweep > 0; sweep = ConstantSources.RemoveUnread(graph, readByFolded))
            {
                removed += sweep;
            }
        }

        context.Log.Verbose($"fold_constants: folded {folded} nodes; removed {removed} constants no longer read.");
        return new PassResult(model, new FoldConstantsResult(folded, removed));
    }

    private static HostTensor? TryFold(OnnxGraph graph, NodeProto node, long opset, long maxElements)
    {
        var inputs = new HostTensor?[node.Input.Count];
        // Shape reads only its input's shape, not its values.
        for (var i = 0; i < inputs.Length && node.OpType != "Shape"; i++)
        {
            if (node.Input[i].Length == 0)
            {
                continue;
            }

            var tensor = ConstantSources.Find(graph, node.Input[i]);
            if (tensor is null || TensorCodec.ElementCount(tensor) > maxElements || !HostTensor.Supports(TensorCodec.ElementTypeOf(tensor)))
            {
                return null;
            }

            inputs[i] = HostTensor.From(tensor);
        }

        var shape = node.OpType == "Shape" ? StaticShape(graph, node.Input[0]) : null;
        var result = ConstantEvaluator.Evaluate(node, inputs, opset, shape, maxElements);
        return result is not null && result.Count <= maxElements ? result : null;
    }

    /// <summary>The shape of a value when every dimension is a number; null when unknown or symbolic.</summary>
    private static long[]? StaticShape(OnnxGraph graph, string name)
    {
        if (ConstantSources.Find(graph, name) is { } constant)
        {
            return constant.Dims.ToArray();
        }

        var declared = graph.Proto.Input.Concat(graph.Proto.Output).Concat(graph.Proto.ValueInfo).FirstOrDefault(v => v.Name == name);
        if (declared?.Type?.TensorType?.Shape is not { } shape)
        {
            return null;
        }

        var dims = new long[shape.Dim.Count];
        for (var i = 0; i < dims.Length; i++)
        {
            if (!shape.Dim[i].HasDimValue)
            {
                return null;
            }

            dims[i] = shape.Dim[i].DimValue;
        }

        return dims;
    }
}

/// <summary>Nodes computed once and replaced by their value, and constants no longer read.</summary>
public sealed record FoldConstantsResult(int Folded, int ConstantsRemoved) : StepResult;
