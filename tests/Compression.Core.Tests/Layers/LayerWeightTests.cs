using Compression.Core.Layers;
using Compression.Core.Numerics;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using static Compression.Core.Tests.Passes.GraphBuilder;

namespace Compression.Core.Tests.Layers;

public sealed class LayerWeightTests
{
    [Fact]
    public void A_matmul_weight_is_read_transposed_and_written_back_as_it_was()
    {
        // [K = 3, N = 2]: output n reads column n.
        var weight = new LayerWeight(Node("MatMul", ["x", "w"], ["y"]), Tensor([3, 2], [1, 2, 3, 4, 5, 6]));

        Assert.Equal((2, 3, 1), (weight.Rows, weight.RowLength, weight.OutputAxis));
        Assert.Equal([1, 3, 5, 2, 4, 6], weight.ReadRows());
        Assert.Equal([1, 2, 3, 4, 5, 6], weight.ReadColumns());
        AssertSameTensor(weight.Tensor, weight.WriteRows(weight.ReadRows()));
    }

    [Fact]
    public void A_gemm_weight_with_trans_b_is_rows_already_and_without_is_transposed()
    {
        var transposed = Node("Gemm", ["x", "w"], ["y"]);
        transposed.Attribute.Add(Int("transB", 1));
        var rows = new LayerWeight(transposed, Tensor([2, 3], [1, 2, 3, 4, 5, 6]));
        var columns = new LayerWeight(Node("Gemm", ["x", "w"], ["y"]), Tensor([2, 3], [1, 2, 3, 4, 5, 6]));

        Assert.Equal((2, 3, 0), (rows.Rows, rows.RowLength, rows.OutputAxis));
        Assert.Equal([1, 2, 3, 4, 5, 6], rows.ReadRows());
        Assert.Equal([1, 4, 2, 5, 3, 6], rows.ReadColumns());
        AssertSameTensor(rows.Tensor, rows.WriteRows(rows.ReadRows()));
        Assert.Equal((3, 2, 1), (columns.Rows, columns.RowLength, columns.OutputAxis));
        Assert.Equal([1, 4, 2, 5, 3, 6], columns.ReadRows());
    }

    [Fact]
    public void A_grouped_conv_weight_has_a_row_per_output_channel_over_its_group_inputs_and_taps_and_keeps_its_type()
    {
        // [M = 4, C/group = 2, 1, 2], group 2: each output channel reads 2 channels x 2 taps.
        var conv = Node("Conv", ["x", "w"], ["y"]);
        conv.Attribute.Add(Int("group", 2));
        var values = Enumerable.Range(1, 16).Select(v => (float)v).ToArray();
        var weight = new LayerWeight(conv, Tensor([4, 2, 1, 2], values, ElementType.Float16));

        Assert.Equal((4, 4, 2, 0), (weight.Rows, weight.RowLength, weight.Groups, weight.OutputAxis));
        Assert.Equal(values, weight.ReadRows());
        AssertSameTensor(weight.Tensor, weight.WriteRows(weight.ReadRows()));
    }

    [Fact]
    public void Columns_with_fewer_inputs_are_written_in_the_stored_layout_of_the_new_shape()
    {
        var conv = new LayerWeight(Node("Conv", ["x", "w"], ["y"]), Tensor([2, 3, 1, 1], [1, 2, 3, 4, 5, 6]));
        var matMul = new LayerWeight(Node("MatMul", ["x", "w"], ["y"]), Tensor([3, 2], [1, 2, 3, 4, 5, 6]));

        // The first and last input kept: columns [2 inputs, 2 outputs].
        var prunedConv = conv.WriteColumns([1, 4, 3, 6], [2, 2, 1, 1]);
        var prunedMatMul = matMul.WriteColumns([1, 2, 5, 6], [2, 2]);

        Assert.Equal([1, 3, 4, 6], TensorCodec.ToSingle(prunedConv));
        Assert.Equal([2L, 2, 1, 1], prunedConv.Dims);
        Assert.Equal([1, 2, 5, 6], TensorCodec.ToSingle(prunedMatMul));
    }

    [Fact]
    public void Values_kept_beside_a_transposed_weight_go_to_rows_and_back()
    {
        var weight = new LayerWeight(Node("MatMul", ["x", "w"], ["y"]), Tensor([3, 2], new float[6]));
        int[] stored = [1, 2, 3, 4, 5, 6];
        var rows = new int[6];
        var back = new int[6];

        weight.ToRows<int>(stored, rows);
        weight.ToStored<int>(rows, back);

        Assert.Equal([1, 3, 5, 2, 4, 6], rows);
        Assert.Equal(stored, back);
    }

    [Fact]
    public void A_weight_without_rows_is_refused()
    {
        Assert.Throws<ArgumentException>(() => new LayerWeight(Node("MatMul", ["x", "w"], ["y"]), Tensor([2, 3, 1], new float[6])));
        Assert.Throws<ArgumentException>(() => new LayerWeight(Node("Add", ["x", "w"], ["y"]), Tensor([2, 3], new float[6])));
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(37, 70)] // tiles of 32 with remainders on both sides
    [InlineData(64, 5)]
    public void The_tiled_transpose_moves_every_value(int rows, int columns)
    {
        var matrix = Enumerable.Range(0, rows * columns).Select(v => (float)v).ToArray();
        var transposed = new float[matrix.Length];

        Transposition.Transpose<float>(matrix, rows, columns, transposed);

        for (var r = 0; r < rows; r++)
        {
            for (var c = 0; c < columns; c++)
            {
                Assert.Equal(matrix[r * columns + c], transposed[c * rows + r]);
            }
        }
    }

    private static TensorProto Tensor(long[] dims, float[] values, ElementType type = ElementType.Float) => TensorCodec.FromSingle("w", dims, values, type);

    private static void AssertSameTensor(TensorProto expected, TensorProto actual)
    {
        Assert.Equal(expected.Name, actual.Name);
        Assert.Equal(expected.DataType, actual.DataType);
        Assert.Equal(expected.Dims, actual.Dims);
        Assert.Equal(expected.RawData.ToByteArray(), actual.RawData.ToByteArray());
    }
}
