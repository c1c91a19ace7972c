using Compression.Core.Calibration;
using Compression.Core.Layers;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;

namespace Compression.Core.Factorization;

/// <summary>How a layer is split.</summary>
internal enum FactorKind
{
    /// <summary>A MatMul or Gemm: two MatMuls (or MatMul then Gemm) through the rank.</summary>
    Linear,

    /// <summary>A Conv: a rank-r Conv with the kernel, then a 1x1 Conv to the outputs.</summary>
    ConvSvd,

    /// <summary>A k x k Conv: 1x1 to the input rank, the k x k core, 1x1 to the outputs.</summary>
    ConvTucker2,
}

/// <summary>
/// One layer the <c>factorize</c> step may split: a MatMul or Gemm on a constant float32 [inputs, outputs] weight, or a
/// dense (group 1) Conv. Its weight is read through <see cref="LayerWeight"/>, as columns [inputs, outputs]: a MatMul's
/// K or a Conv's C x kernel taps (the Conv's patch features, in the order <see cref="ConvPatches"/> reads them).
/// </summary>
internal sealed class FactorTarget
{
    private FactorTarget(NodeProto node, LayerWeight weight, FactorKind kind)
    {
        Node = node;
        Weight = weight;
        Kind = kind;
        Outputs = weight.Rows;
        Inputs = weight.RowLength;
        Taps = node.OpType == "Conv" ? (int)weight.Dims.Skip(2).Aggregate(1L, (a, b) => a * b) : 1;
        Channels = Inputs / Taps;
        Input = node.OpType == "Conv"
            ? HessianInput.OfConvGroups(node, weight.Dims, 1)[0]
            : new HessianInput(node.Input[0], Inputs);
    }

    public NodeProto Node { get; }

    public LayerWeight Weight { get; }

    public FactorKind Kind { get; }

    /// <summary>Features each output reads: K, or a Conv's channels x taps.</summary>
    public int Inputs { get; }

    public int Outputs { get; }

    /// <summary>A Conv's kernel taps (1 for a MatMul or Gemm).</summary>
    public int Taps { get; }

    /// <summary>A Conv's input channels (K for a MatMul or Gemm).</summary>
    public int Channels { get; }

    /// <summary>The layer input whose second moment whitens the spectrum (a Conv's patches).</summary>
    public HessianInput Input { get; }

    public long Parameters => (long)Inputs * Outputs;

    public string Name => Node.Name.Length > 0 ? Node.Name : Node.Output[0];

    public string Describe => $"'{OnnxGraph.Describe(Node)}";

    /// <summary>The layers of the main graph the step may split, and those it leaves alone with the reason.</summary>
    public static (List<FactorTarget> Targets, List<(NodeProto Node, string Reason)> Skipped) Find(OnnxModel model, FactorizeOptions options)
    {
        var graph = model.MainGraph;
        var exclusion = new NodeExclusions(options.Exclude);
        var targets = new List<FactorTarget>();
        var skipped = new List<(NodeProto, string)>();
        foreach (var node in graph.Nodes)
        {
            if (node.OpType is not ("MatMul" or "Gemm" or "Conv") || !GraphScopes.IsStandard(node) || node.Input.Count < 2 || exclusion.Excludes(node))
            {
                continue;
            }

            if (node.OpType == "Conv" && options.Conv == ConvFactorization.None)
            {
                continue;
            }

            var (target, reason) = Of(graph, node, options);
            if (target is not null)
            {
                targets.Add(target);
            }
            else if (reason is not null)
            {
                skipped.Add((node, reason));
            }
        }

        return (targets, skipped);
    }

    private static (FactorTarget?, string?) Of(OnnxGraph graph, NodeProto node, FactorizeOptions options)
    {
        if (ConstantSources.Find(graph, node.Input[0]) is not null)
        {
            return (null, null); // a constant input: nothing runs on data
        }

        if (graph.Initializer(node.Input[1]) is not { } tensor)
        {
            return (null, ConstantSources.Find(graph, node.Input[1]) is null ? null : "its weight is computed in the graph (fold constants first)");
        }

        if (TensorCodec.ElementTypeOf(tensor) != ElementType.Float || tensor.Dims.Any(d => d <= 0))
        {
            return (null, $"its weight '{tensor.Name}' is not float32");
        }

        if (graph.Consumers(tensor.Name).Count > 1 || graph.IsGraphOutput(tensor.Name))
        {
            return (null, $"its weight '{tensor.Name}' is read by {graph.Consumers(tensor.Name).Count} nodes");
        }

        switch (node.OpType)
        {
            case "MatMul" when tensor.Dims.Count != 2:
                return (null, $"its weight is {tensor.Dims.Count}-D (batched MatMul)");
            case "Gemm" when GraphEdits.IntAttribute(node, "transA", 0) != 0:
                return (null, "it reads its input transposed (transA)");
            case "Gemm" when tensor.Dims.Count != 2:
                return (null, "its weight is not 2-D");
            case "Conv" when tensor.Dims.Count < 3:
                return (null, "its weight has no kernel dims");
            case "Conv" when GraphEdits.IntAttribute(node, "group", 1) != 1:
                return (null, tensor.Dims[1] == 1 ? "it is depthwise: each channel reads only itself, there is no rank to cut" : "it is grouped: each group reads only its own channels");
        }

        var weight = new LayerWeight(node, tensor);
        var kind = node.OpType != "Conv" ? FactorKind.Linear
            : options.Conv == ConvFactorization.Svd || weight.RowLength == weight.Dims[1] ? FactorKind.ConvSvd // a 1x1 Conv is linear per position
            : FactorKind.ConvTucker2;
        return (new FactorTarget(node, weight, kind), null);
    }
}
