using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Passes.Graph;
using Compression.Core.Quantization.Static;
using ColumnQuantizer = Compression.Core.Quantization.Dynamic.WeightQuantizer;

namespace Compression.Core.Quantization.Recurrent;

/// <summary>
/// An LSTM (layout 0, checked by <see cref="RecurrentOps.Find"/>) as com.microsoft DynamicQuantizeLSTM, ONNX Runtime's
/// one integer kernel for a recurrent op: it quantizes X and the hidden state at run time and multiplies them with
/// 8-bit W and R. Inputs X, W, R, B, sequence_lens, initial_h, initial_c, P as before (W and R quantized and
/// transposed), then W_scale, W_zero_point, R_scale, R_zero_point; the attributes carry over but layout, which the
/// contrib op does not have. Dynamic and static mode both use it (there is no statically quantized LSTM kernel).
/// </summary>
internal sealed class IntegerLstm(OnnxGraph graph, QuantizeOptions options, HashSet<string> names)
{
    public const string Form = "DynamicQuantizeLSTM";

    private const string MicrosoftDomain = "com.microsoft";

    private readonly Dictionary<string, (Weight Weight, long Bytes)> weights = new(StringComparer.Ordinal);

    /// <summary>Distinct W and R tensors quantized.</summary>
    public int Weights => weights.Count;

    /// <summary>Replaces the LSTM through the graph (so its indexes stay current); returns the bytes its quantized W and R take.</summary>
    public long Rewrite(RecurrentWeights lstm)
    {
        var node = lstm.Node;
        var (w, wBytes) = Quantize(lstm.W, lstm.Input, lstm);
        var (r, rBytes) = Quantize(lstm.R, lstm.Hidden, lstm);
        var inputs = new List<string> { node.Input[0], w.Codes, r.Codes };
        for (var i = 3; i < 8; i++)
        {
            inputs.Add(i < node.Input.Count ? node.Input[i] : "");
        }

        inputs.AddRange([w.Scale, w.ZeroPoint, r.Scale, r.ZeroPoint]);
        var fused = new NodeProto { OpType = Form, Domain = MicrosoftDomain, Name = node.Name.Length > 0 ? node.Name + "_quant" : "" };
        fused.Input.AddRange(inputs);
        fused.Output.AddRange(node.Output);
        fused.Attribute.AddRange(node.Attribute.Where(a => a.Name != "layout"));
        graph.ReplaceNode(node, fused);
        return wBytes + rBytes;
    }

    /// <summary>Drops the float W and R nothing reads any more and declares the contrib domain where an LSTM was rewritten.</summary>
    public void Finish()
    {
        if (weights.Count == 0)
        {
            return;
        }

        ConstantSources.RemoveUnread(graph, weights.Keys);
        var model = graph.Model!;
        if (model.OpsetVersion(MicrosoftDomain) is null)
        {
            model.Proto.OpsetImport.Add(new OperatorSetIdProto { Domain = MicrosoftDomain, Version = 1 });
        }
    }

    /// <summary>
    /// W [directions, 4 * hidden, size] (or R, size = hidden) as DynamicQuantizeLSTM reads it: each direction transposed
    /// to [size, 4 * hidden] and quantized per column, the gate output. Always u8 and symmetric (zero point 128, the one
    /// zero point the kernel takes for a whole u8 tensor): on AVX2 without VNNI, MLAS's u8 x s8 kernel adds pairs of
    /// products in int16, which saturate on the hidden state (near 0 and 255 once quantized) times full-range s8
    /// weights. On the bidirectional test LSTM per-channel s8 weights put 12-26 % of max |Y| off float, u8 ones under 2 %.
    /// Returns the weight with its bytes, counted once however many LSTMs read it.
    /// </summary>
    private (Weight Weight, long Bytes) Quantize(TensorProto weight, int size, RecurrentWeights lstm)
    {
        if (weights.TryGetValue(weight.Name, out var known))
        {
            return (known.Weight, 0);
        }

        var (directions, rows) = (lstm.Directions, lstm.Gates * lstm.Hidden);
        var values = ColumnQuantizer.FloatBytes(weight);
        var perDirection = rows * size;
        var codes = new byte[directions * perDirection];
        var scales = new List<float>();
        var zeroPoints = new List<byte>();
        for (var d = 0; d < directions; d++)
        {
            var transposed = ColumnQuantizer.Transpose(values.Span.Slice(d * perDirection * sizeof(float), perDirection * sizeof(float)), rows, size);
            var quantized = ColumnQuantizer.QuantizeColumns(transposed, size, rows, QuantizedType.U8, symmetric: true, options.ReduceRange, options.PerChannel);
            quantized.Codes.CopyTo(codes, d * perDirection);
            scales.AddRange(quantized.Scales);
            zeroPoints.AddRange(quantized.ZeroPoints.Select(z => (byte)z));
        }

        long[] parameterDims = options.PerChannel ? [directions, rows] : [directions];
        var stem = weight.Name.Length > 0 ? weight.Name : lstm.Node.Output[0];
        var codesTensor = TensorCodec.FromRaw(GraphScopes.UniqueName(names, stem + "_quantized"), [directions, size, rows], ElementType.UInt8, codes);
        var scale = TensorCodec.FromSingle(GraphScopes.UniqueName(names, stem + "_scale"), parameterDims, scales.ToArray(), ElementType.Float);
        var zeroPoint = TensorCodec.FromRaw(GraphScopes.UniqueName(names, stem + "_zero_point"), parameterDims, ElementType.UInt8, zeroPoints.ToArray());
        foreach (var tensor in new[] { codesTensor, scale, zeroPoint })
        {
            graph.SetInitializer(tensor);
        }

        var result = new Weight(codesTensor.Name, scale.Name, zeroPoint.Name);
        var bytes = codes.Length + 5L * scales.Count; // a float scale and a u8 zero point per channel
        weights[weight.Name] = (result, bytes);
        return (result, bytes);
    }

    private sealed record Weight(string Codes, string Scale, string ZeroPoint);
}
