using Compression.Core.Calibration;
using Compression.Core.Diagnostics;
using Compression.Core.Layers;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Passes;
using Compression.Core.Passes.Graph;

namespace Compression.Core.Pruning.Sparsity;

/// <summary>Finds the weights unstructured and N:M pruning may zero: MatMul, Gemm and Conv on constant float weights.</summary>
internal static class PruneTargets
{
    /// <summary>
    /// Makes weights constant where the model only computes them from constants: initializers an IR 3 model lists
    /// as graph inputs stop being inputs (pruned weights replace them, as quantization does), and when a layer's
    /// weight comes out of a node (a Reshape or Transpose of a weight), constants are folded first.
    /// </summary>
    public static OnnxModel Prepare(OnnxModel model, PassContext context)
    {
        var graph = model.MainGraph;
        graph.DropInitializerInputs();

        var computed = graph.Proto.Node.Any(n => n.OpType is "MatMul" or "Gemm" or "Conv" && n.Input.Count > 1
            && graph.Producer(n.Input[1]) is { } producer && !ConstantSources.IsConstantNode(producer));
        return computed ? new FoldConstantsPass().Run(model, new FoldConstantsOptions(), context).Model : model;
    }

    public static List<PruneTarget> Find(OnnxModel model, IReadOnlyList<string> exclude, ICompressionLog log)
    {
        var exclusion = new NodeExclusions(exclude);
        var targets = new List<PruneTarget>();
        foreach (var graph in GraphScopes.InnermostFirst(model))
        {
            var main = ReferenceEquals(graph.Proto, model.Proto.Graph);
            foreach (var node in graph.Proto.Node)
            {
                if (!GraphScopes.IsStandard(node) || exclusion.Excludes(node) || node.Input.Count < 2)
                {
                    continue;
                }

                var target = node.OpType switch
                {
                    "MatMul" => MatMul(graph, node, main),
                    "Gemm" => Gemm(graph, node, main),
                    "Conv" => Conv(graph, node, main),
                    _ => null,
                };
                if (target is null)
                {
                    continue;
                }

                var readers = graph.Consumers(target.WeightValue).Count;
                if (readers > 1)
                {
                    log.Report(Diagnostic.Warning(ErrorCodes.LayerLeftDense,
                        $"{target.Describe} is left dense: its weight '{target.WeightValue}' is read by {readers} nodes."));
                    continue;
                }

                targets.Add(target);
            }
        }

        return targets;
    }

    private static TensorProto? FloatWeight(OnnxGraph graph, string name, int minRank, int maxRank) =>
        ConstantSources.Find(graph, name) is { } tensor && TensorCodec.ElementTypeOf(tensor) == ElementType.Float
            && tensor.Dims.Count >= minRank && tensor.Dims.Count <= maxRank && tensor.Dims.All(d => d > 0) ? tensor : null;

    private static PruneTarget? MatMul(OnnxGraph graph, NodeProto node, bool main)
    {
        if (FloatWeight(graph, node.Input[1], 2, 2) is not { } weight || ConstantSources.Find(graph, node.Input[0]) is not null)
        {
            return null;
        }

        var layerWeight = new LayerWeight(node, weight);
        return main
            ? new PruneTarget(graph, layerWeight, new HessianInput(node.Input[0], layerWeight.RowLength), null)
            : new PruneTarget(graph, layerWeight, null, "it is inside a subgraph");
    }

    private static PruneTarget? Gemm(OnnxGraph graph, NodeProto node, bool main)
    {
        if (FloatWeight(graph, node.Input[1], 2, 2) is not { } weight || ConstantSources.Find(graph, node.Input[0]) is not null)
        {
            return null;
        }

        var layerWeight = new LayerWeight(node, weight);
        var reason = !main ? "it is inside a subgraph" : Attribute(node, "transA")?.I is 1 ? "its A is transposed (transA = 1)" : null;
        return new PruneTarget(graph, layerWeight, reason is null ? new HessianInput(node.Input[0], layerWeight.RowLength) : null, reason);
    }

    private static PruneTarget? Conv(OnnxGraph graph, NodeProto node, bool main)
    {
        if (FloatWeight(graph, node.Input[1], 3, 5) is not { } weight)
        {
            return null;
        }

        var layerWeight = new LayerWeight(node, weight);
        var reason = !main ? "it is inside a subgraph"
            : layerWeight.Groups != 1 ? $"it is a grouped Conv (group {layerWeight.Groups})"
            : null;
        HessianInput? input = null;
        if (reason is null)
        {
            var patches = ConvPatches.Of(node, weight.Dims);
            input = new HessianInput(node.Input[0], patches.Size, patches);
        }

        return new PruneTarget(graph, layerWeight, input, reason);
    }

    private static AttributeProto? Attribute(NodeProto node, string name) => node.Attribute.FirstOrDefault(a => a.Name == name);
}
