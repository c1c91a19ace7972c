using Compression.Core.Numerics;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;

namespace Compression.Core.Layers;

/// <summary>
/// A layer's constant weight seen as rows, the one view every method reads and writes weights through: one row per
/// output (a MatMul's or Gemm's output feature, a Conv's output channel, an embedding table's token), each row the
/// values that output reads, in the weight's own order (K for a MatMul or Gemm; C/group x kernel taps for a Conv; the
/// hidden size for an embedding). A MatMul's [K, N] weight and a Gemm's without transB are stored transposed,
/// [inputs, outputs]; a Gemm's with transB, a Conv's [M, C/group, k...] and an embedding table are stored as rows.
/// Nothing is decoded until a read, so a caller holds one layer in float at a time.
/// </summary>
internal sealed class LayerWeight
{
    /// <summary>The view of <paramref name="tensor"/>, the weight of <paramref name="node"/> (a MatMul's or Gemm's B, a Conv's W, a Gather's table).</summary>
    public LayerWeight(NodeProto node, TensorProto tensor)
    {
        var dims = tensor.Dims;
        var fits = node.OpType switch
        {
            "MatMul" or "Gemm" or "Gather" => dims.Count == 2,
            "Conv" => dims.Count >= 2,
            _ => false,
        };
        if (!fits)
        {
            throw new ArgumentException($"A {node.OpType}'s [{string.Join(", ", dims)}] weight '{tensor.Name}' has no row view.", nameof(tensor));
        }

        Node = node;
        Tensor = tensor;
        StoredTransposed = OutputAxisOf(node) == 1;
        var perOutput = 1L;
        for (var i = 1; i < dims.Count; i++)
        {
            perOutput *= dims[i];
        }

        Rows = (int)dims[StoredTransposed ? 1 : 0];
        RowLength = (int)(StoredTransposed ? dims[0] : perOutput);
        Groups = node.OpType == "Conv" ? (int)GraphEdits.IntAttribute(node, "group", 1) : 1;
    }

    public NodeProto Node { get; }

    public TensorProto Tensor { get; }

    /// <summary>The stored shape.</summary>
    public IReadOnlyList<long> Dims => Tensor.Dims;

    /// <summary>Whether the weight is stored [inputs, outputs], its rows being the stored columns.</summary>
    public bool StoredTransposed { get; }

    /// <summary>The stored axis that runs over the outputs: the axis of a per-output-channel scale.</summary>
    public int OutputAxis => StoredTransposed ? 1 : 0;

    public int Rows { get; }

    /// <summary>Values per row: the inputs each output reads (times the kernel taps of a Conv).</summary>
    public int RowLength { get; }

    public long Count => (long)Rows * RowLength;

    /// <summary>
    /// A Conv's group attribute as given (1 for the other ops): its rows fall into this many equal runs, each reading only
    /// its own run of input channels. Not checked here; a caller that splits the rows by group checks that they divide.
    /// </summary>
    public int Groups { get; }

    /// <summary>
    /// The stored axis of <paramref name="node"/>'s weight that runs over its outputs: 1 for a MatMul's B and a Gemm's
    /// without transB ([inputs, outputs]), 0 for the rest. The rule the view is built on, for a caller that needs only the
    /// axis (the static quantizer's per-channel scales).
    /// </summary>
    public static int OutputAxisOf(NodeProto node) => node.OpType switch
    {
        "MatMul" => 1,
        "Gemm" => GraphEdits.IntAttribute(node, "transB", 0) != 0 ? 0 : 1,
        _ => 0,
    };

    /// <summary>The weight decoded to float as [Rows, RowLength], row-major.</summary>
    public float[] ReadRows()
    {
        var stored = TensorCodec.ToSingle(Tensor);
        if (!StoredTransposed)
        {
            return stored;
        }

        var rows = new float[stored.Length];
        ToRows<float>(stored, rows);
        return rows;
    }

    /// <summary>The weight decoded to float as [RowLength, Rows], row-major: one row per input feature, what structured pruning keeps or drops.</summary>
    public float[] ReadColumns()
    {
        var stored = TensorCodec.ToSingle(Tensor);
        if (StoredTransposed)
        {
            return stored;
        }

        var columns = new float[stored.Length];
        Transposition.Transpose<float>(stored, Rows, RowLength, columns);
        return columns;
    }

    /// <summary>Rows ([Rows, RowLength]) in the stored layout and element type: a new tensor of the weight's name and shape.</summary>
    public TensorProto WriteRows(ReadOnlySpan<float> rows)
    {
        var stored = rows;
        if (StoredTransposed)
        {
            var transposed = new float[rows.Length];
            ToStored(rows, transposed);
            stored = transposed;
        }

        return TensorCodec.FromSingle(Tensor.Name, Tensor.Dims.ToArray(), stored, TensorCodec.ElementTypeOf(Tensor));
    }

    /// <summary>
    /// Columns ([inputs, Rows], inputs now <paramref name="columns"/>.Length / Rows) in the stored layout and element type:
    /// a new tensor of the weight's name and of <paramref name="dims"/>, the stored shape with as many inputs (structured
    /// pruning writes fewer than it read).
    /// </summary>
    public TensorProto WriteColumns(ReadOnlySpan<float> columns, ReadOnlySpan<long> dims)
    {
        var stored = columns;
        if (!StoredTransposed)
        {
            var transposed = new float[columns.Length];
            Transposition.Transpose(columns, columns.Length / Rows, Rows, transposed);
            stored = transposed;
        }

        return TensorCodec.FromSingle(Tensor.Name, dims, stored, TensorCodec.ElementTypeOf(Tensor));
    }

    /// <summary>Values laid out as the stored weight (its decoded values, or integer codes for it) reordered as rows, [Rows, RowLength].</summary>
    public void ToRows<T>(ReadOnlySpan<T> stored, Span<T> rows)
    {
        if (StoredTransposed)
        {
            Transposition.Transpose(stored, RowLength, Rows, rows);
        }
        else
        {
            stored.CopyTo(rows);
        }
    }

    /// <summary>Rows of values ([Rows, RowLength]) laid out as the stored weight.</summary>
    public void ToStored<T>(ReadOnlySpan<T> rows, Span<T> stored)
    {
        if (StoredTransposed)
        {
            Transposition.Transpose(rows, Rows, RowLength, stored);
        }
        else
        {
            rows.CopyTo(stored);
        }
    }
}
