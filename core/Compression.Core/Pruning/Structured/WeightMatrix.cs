using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Passes.Graph;

namespace Compression.Core.Pruning.Structured;

/// <summary>A consuming layer's weight as a [features, outputs] matrix (feature-major), and back to its stored layout.</summary>
internal static class WeightMatrix
{
    public static float[] Read(OnnxGraph graph, GroupConsumer consumer, out int outputs)
    {
        var tensor = ConstantSources.Find(graph, consumer.Node.Input[1])!; // the current weight: an earlier edit may have renamed it
        var values = TensorCodec.ToSingle(tensor);
        if (!IsOutputMajor(consumer))
        {
            outputs = (int)tensor.Dims[1];
            return values;
        }

        outputs = (int)tensor.Dims[0];
        return Transpose(values, outputs, values.Length / outputs);
    }

    /// <summary>The stored layout of a [features, outputs] matrix.</summary>
    public static float[] ToStored(GroupConsumer consumer, float[] matrix, int outputs) =>
        IsOutputMajor(consumer) ? Transpose(matrix, matrix.Length / outputs, outputs) : matrix;

    /// <summary>Conv [O, C, kh, kw] and Gemm with transB store one output per row.</summary>
    private static bool IsOutputMajor(GroupConsumer consumer) =>
        consumer.Node.OpType == "Conv" || (consumer.Node.OpType == "Gemm" && GroupFinder.IntAttribute(consumer.Node, "transB", 0) != 0);

    private static float[] Transpose(float[] values, int rows, int columns)
    {
        var result = new float[values.Length];
        for (var r = 0; r < rows; r++)
        {
            for (var c = 0; c < columns; c++)
            {
                result[c * rows + r] = values[r * columns + c];
            }
        }

        return result;
    }
}
