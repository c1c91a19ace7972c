using Compression.Core.Calibration;
using Compression.Core.Layers;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;

namespace Compression.Core.Pruning.Sparsity;

/// <summary>
/// A MatMul, Gemm or Conv whose constant float weight is pruned, seen as its <see cref="LayerWeight"/> rows: rows are
/// output features, the row length is the reduction dimension K along which N:M groups and the Hessian run.
/// <see cref="Input"/> is how the layer's calibration Hessian is collected; null where there is none.
/// </summary>
internal sealed record PruneTarget(OnnxGraph Graph, LayerWeight Weight, HessianInput? Input, string? NoStatisticsReason)
{
    public NodeProto Node => Weight.Node;

    public string Describe => "'" + OnnxGraph.Describe(Node);

    /// <summary>The value the node reads its weight from (a Constant node's tensor may carry no name of its own).</summary>
    public string WeightValue => Node.Input[1];

    /// <summary>Stores rows back in the weight's own layout, where the weight came from (initializer or Constant node).</summary>
    public void WriteRows(float[] rows) => ConstantWriter.Replace(Graph, Weight.WriteRows(rows), WeightValue);
}
