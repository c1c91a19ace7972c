using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Passes.Graph;
using Compression.Core.Quantization.Static;

namespace Compression.Core.Quantization.Recurrent;

/// <summary>
/// 8-bit storage of a recurrent op's W or R where no integer kernel runs it: the codes are stored as the 2-D matrix
/// [directions * gates * hidden, size], read through DequantizeLinear with one scale per row (a single DequantizeLinear
/// axis cannot index direction and row together) and reshaped back for the unchanged float op. The file shrinks about
/// 4x for these weights; the op computes in float on the dequantized values.
/// </summary>
internal sealed class RecurrentWeightStorage(OnnxGraph graph, QuantizeOptions options, HashSet<string> names)
{
    private const string MicrosoftDomain = "com.microsoft";

    private readonly Dictionary<string, string> stored = new(StringComparer.Ordinal);

    /// <summary>
    /// ai.onnx DequantizeLinear takes an axis from opset 13; below it, com.microsoft's does (ONNX Runtime's, the same
    /// fallback static mode uses when an opset cannot be raised), so the model's other ops keep their versions.
    /// </summary>
    private string Domain => (graph.OpsetVersion("") ?? 1) >= 13 ? "" : MicrosoftDomain;

    /// <summary>Whether a weight went through com.microsoft's DequantizeLinear (the caller declares the domain).</summary>
    public bool UsesMicrosoftDomain { get; private set; }

    /// <summary>
    /// Stores W and R of the node in 8 bits and replaces the node with a copy reading them (through the graph, so its
    /// indexes stay current); returns the bytes they take now, counted once however many nodes read them.
    /// </summary>
    public long Store(RecurrentWeights weights)
    {
        var bytes = 0L;
        var rewired = weights.Node.Clone();
        foreach (var (index, tensor) in new[] { (1, weights.W), (2, weights.R) })
        {
            if (!stored.TryGetValue(tensor.Name, out var restored))
            {
                (restored, var size) = Store(tensor, weights.Node.Name.Length > 0 ? weights.Node.Name : weights.Node.OpType);
                stored[tensor.Name] = restored;
                bytes += size;
            }

            rewired.Input[index] = restored;
        }

        graph.ReplaceNode(weights.Node, rewired);
        return bytes;
    }

    /// <summary>Removes the float originals nothing reads any more.</summary>
    public void Finish() => ConstantSources.RemoveUnread(graph, stored.Keys);

    private (string Output, long Bytes) Store(TensorProto weight, string nodeName)
    {
        // Full 8-bit range: the codes are only dequantized, never multiplied in 8 bits, so no bit is given up to saturation.
        var type = options.WeightType == QuantizedType.U8 ? QuantizedType.U8 : QuantizedType.S8;
        var elementType = QuantMath.ElementType(type);
        var dims = weight.Dims.ToArray();
        long[] matrix = [dims[0] * dims[1], dims[2]];
        var quantized = WeightQuantizer.Quantize(TensorCodec.ToSingle(weight), matrix, axis: 0, options.PerChannel, type, options.Symmetric, reduceRange: false);

        var stem = weight.Name.Length > 0 ? weight.Name : nodeName;
        var codes = IntegerTensors.Create(GraphScopes.UniqueName(names, stem + "_quantized"), matrix, quantized.Values, elementType);
        var scale = IntegerTensors.Scales(GraphScopes.UniqueName(names, stem + "_scale"), quantized.Scales, quantized.PerChannel);
        var shape = TensorCodec.FromInt64(GraphScopes.UniqueName(names, stem + "_shape"), [3], dims);
        var tensors = new List<TensorProto> { codes, scale, shape };
        var inputs = new List<string> { codes.Name, scale.Name };
        if (Array.Exists(quantized.ZeroPoints, z => z != 0))
        {
            var zeroPoint = IntegerTensors.ZeroPoints(GraphScopes.UniqueName(names, stem + "_zero_point"), quantized.ZeroPoints, quantized.PerChannel, elementType);
            tensors.Add(zeroPoint);
            inputs.Add(zeroPoint.Name);
        }

        var rows = GraphScopes.UniqueName(names, stem + "_dequantized");
        var restored = GraphScopes.UniqueName(names, stem + "_restored");
        var dequantize = GraphEdits.Node("DequantizeLinear", rows, inputs, [rows], Domain);
        if (quantized.PerChannel)
        {
            dequantize.Attribute.Add(GraphEdits.Int("axis", 0));
        }

        UsesMicrosoftDomain |= Domain == MicrosoftDomain;
        foreach (var tensor in tensors)
        {
            graph.SetInitializer(tensor);
        }

        graph.AddNode(dequantize);
        graph.AddNode(GraphEdits.Node("Reshape", restored, [rows, shape.Name], [restored]));
        return (restored, tensors.Sum(t => TensorCodec.ElementCount(t) * ElementTypes.BitWidth(TensorCodec.ElementTypeOf(t)) / 8));
    }
}
