using Compression.Core.Calibration;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;

namespace Compression.Core.Pruning.Sparsity;

/// <summary>
/// A MatMul, Gemm or Conv whose constant float weight is pruned, seen as [Rows, Length]: rows are output features,
/// Length is the reduction dimension K along which N:M groups and the Hessian run. A MatMul's [K, N] weight (and a
/// Gemm's without transB) is read transposed; a Gemm's with transB and a Conv's [Cout, C/group, kh, kw] are rows
/// already. <see cref="Input"/> is how the layer's calibration Hessian is collected; null where there is none.
/// </summary>
internal sealed record PruneTarget(OnnxGraph Graph, NodeProto Node, TensorProto Weight, bool Transposed, HessianInput? Input, string? NoStatisticsReason)
{
    public int Rows => (int)(Transposed ? Weight.Dims[1] : Weight.Dims[0]);

    public int Length => (int)(TensorCodec.ElementCount(Weight) / Rows);

    public long Count => (long)Rows * Length;

    public string Describe => "'" + OnnxGraph.Describe(Node);

    /// <summary>The value the node reads its weight from (a Constant node's tensor may carry no name of its own).</summary>
    public string WeightValue => Node.Input[1];

    /// <summary>The weight decoded to float as [Rows, Length], row-major.</summary>
    public float[] ReadRows()
    {
        var values = TensorCodec.ToSingle(Weight);
        return Transposed ? Transpose(values, Length, Rows) : values;
    }

    /// <summary>Stores rows back in the weight's own layout, where the weight came from (initializer or Constant node).</summary>
    public TensorProto WriteRows(float[] rows)
    {
        var values = Transposed ? Transpose(rows, Rows, Length) : rows;
        var tensor = TensorCodec.FromSingle(Weight.Name, Weight.Dims.ToArray(), values, ElementType.Float);
        ConstantWriter.Replace(Graph, tensor, WeightValue);
        return tensor;
    }

    /// <summary>[rows, columns] row-major to [columns, rows].</summary>
    private static float[] Transpose(float[] values, int rows, int columns)
    {
        var result = new float[values.Length];
        for (var r = 0; r < rows; r++)
        {
            var source = values.AsSpan(r * columns, columns);
            for (var c = 0; c < columns; c++)
            {
                result[c * rows + r] = source[c];
            }
        }

        return result;
    }
}
