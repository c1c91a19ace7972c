using Compression.Core.Layers;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Passes.Graph;

namespace Compression.Core.Quantization.Static;

/// <summary>A QDQ model and which nodes in it are quantized.</summary>
internal sealed record QdqModel(OnnxModel Model, IReadOnlyList<string> QuantizedNodes);

/// <summary>
/// Writes the QDQ form: QuantizeLinear/DequantizeLinear on every activation a quantized node reads or writes,
/// DequantizeLinear on int8 weights and int32 biases. ONNX Runtime fuses DQ -> op -> Q into integer kernels.
/// Every reader of a quantized activation reads the DequantizeLinear output, so the producer's only reader is the
/// QuantizeLinear and the fusion applies. Relu/Clip(0, x) after a quantized op is absorbed into its output range
/// when activations are asymmetric (the zero point then clamps at 0 exactly).
/// </summary>
internal sealed class QdqBuilder
{
    private readonly OnnxGraph graph;
    private readonly IReadOnlyDictionary<string, (float Min, float Max)> ranges;
    private const string MicrosoftDomain = "com.microsoft";

    private readonly ConvTapMeans? tapMeans;
    private readonly QuantizeOptions options;
    private readonly string qdqDomain;
    private readonly IReadOnlySet<string> wide;
    private readonly IReadOnlyDictionary<string, QuantizedWeight>? roundedWeights;
    private readonly HashSet<string> names;
    private readonly Dictionary<string, QuantParams> activationParams = new(StringComparer.Ordinal);

    // Tensors whose scale and zero point are another tensor's (outputs of Reshape, MaxPool ...): they share its initializers.
    private readonly Dictionary<string, string> sharedWith = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (string Scale, string ZeroPoint)> paramNames = new(StringComparer.Ordinal);
    private readonly List<string> quantizedTensors = [];

    /// <summary>Clamps absorbed into their producer's output range, by that output (the clamp's former output).</summary>
    private readonly Dictionary<string, NodeProto> absorbedClamps = new(StringComparer.Ordinal);

    private QdqBuilder(OnnxModel model, IReadOnlyDictionary<string, (float, float)> ranges, ConvTapMeans? tapMeans, QuantizeOptions options, string qdqDomain,
        IReadOnlySet<string> wide, IReadOnlyDictionary<string, QuantizedWeight>? roundedWeights)
    {
        this.roundedWeights = roundedWeights;
        graph = model.MainGraph;
        this.ranges = ranges;
        this.tapMeans = tapMeans;
        this.options = options;
        this.qdqDomain = qdqDomain;
        this.wide = wide;
        names = GraphScopes.AllValueNames(model);
    }

    /// <summary>The 16-bit type of the same signedness as the activation type.</summary>
    public static QuantizedType Wide(QuantizedType activationType) =>
        activationType is QuantizedType.U8 or QuantizedType.U16 ? QuantizedType.U16 : QuantizedType.S16;

    private bool AsymmetricActivations => options.ActivationType is QuantizedType.U8 or QuantizedType.U16;

    /// <summary>
    /// The activations whose ranges calibration must find: data inputs and outputs of every node that may be
    /// quantized. With asymmetric activations an output read only by a Relu/Clip(0, x) takes the clamp's range, so it
    /// is not captured: fewer values to copy, and ONNX Runtime can still fuse Conv with Relu while calibrating.
    /// </summary>
    public static IReadOnlyList<string> TensorsToCalibrate(OnnxGraph graph, QuantizedType activationType)
    {
        var asymmetric = activationType is QuantizedType.U8 or QuantizedType.U16;
        var floats = FloatValues.Find(graph);
        var tensors = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var node in graph.TopologicalOrder())
        {
            var role = QuantizableOps.Role(node);
            if (role == OpRole.Float)
            {
                continue;
            }

            // A clamp is never quantized on its own: only its output's range is used, by the op it is absorbed into.
            var inputs = role == OpRole.Clamp ? Enumerable.Empty<string>() : DataInputs(node);
            var readers = graph.Consumers(node.Output[0]);
            var absorbed = asymmetric && readers.Count == 1 && !graph.IsGraphOutput(node.Output[0])
                && QuantizableOps.Role(readers[0]) == OpRole.Clamp && ClampsAtZero(graph, readers[0]);
            foreach (var value in absorbed ? inputs : inputs.Append(node.Output[0]))
            {
                if (value.Length > 0 && graph.Initializer(value) is null && floats.Contains(value) && seen.Add(value))
                {
                    tensors.Add(value);
                }
            }
        }

        return tensors;
    }

    /// <summary>
    /// Builds the QDQ model from a prepared float model (which is not changed); nodes named in <paramref name="keepFloat"/>
    /// stay float. With <paramref name="tapMeans"/> the biases of Convs are corrected for the mean shift of their rounded weights.
    /// The activations that nodes named in <paramref name="wideNodes"/> read and write are quantized to 16 bits
    /// (com.microsoft Q/DQ) whatever the activation type; their weights stay 8-bit. Weights of nodes named in
    /// <paramref name="roundedWeights"/> take those integers and scales (<see cref="StaticGptq"/>) instead of round-to-nearest.
    /// </summary>
    public static QdqModel Build(OnnxModel prepared, IReadOnlyDictionary<string, (float Min, float Max)> ranges, ConvTapMeans? tapMeans,
        QuantizeOptions options, IReadOnlySet<string> keepFloat, string qdqDomain, IReadOnlySet<string>? wideNodes = null,
        IReadOnlyDictionary<string, QuantizedWeight>? roundedWeights = null)
    {
        var model = new OnnxModel(prepared.Proto.Clone(), prepared.Path);
        var builder = new QdqBuilder(model, ranges, tapMeans, options, qdqDomain, WideTensors(model.MainGraph, wideNodes), roundedWeights);
        var quantized = builder.Plan(keepFloat, out var clamped);
        builder.ReleaseFloatOutputs(quantized, clamped);
        foreach (var node in quantized.Where(n => QuantizableOps.Role(n) == OpRole.Weighted))
        {
            builder.QuantizeWeights(node);
        }

        var floatWeighted = builder.graph.Nodes.Where(n => keepFloat.Contains(n.Name) && QuantizableOps.Role(n) == OpRole.Weighted)
            .ToHashSet<NodeProto>(ReferenceEqualityComparer.Instance);
        var quantizedNodes = quantized.ToHashSet<NodeProto>(ReferenceEqualityComparer.Instance);
        foreach (var tensor in builder.quantizedTensors)
        {
            builder.InsertQdq(tensor, floatWeighted, quantizedNodes);
        }

        if ((qdqDomain == MicrosoftDomain || builder.quantizedTensors.Any(t => builder.DomainOf(t) == MicrosoftDomain)) && model.OpsetVersion(MicrosoftDomain) is null)
        {
            model.Proto.OpsetImport.Add(new OperatorSetIdProto { Domain = MicrosoftDomain, Version = 1 });
        }

        builder.graph.SortTopologically();
        builder.graph.RemoveDeadNodes();
        return new QdqModel(model, quantized.Select(n => n.Name).ToList());
    }

    /// <summary>The data inputs and the output of each named node (the output of a clamp it reads into, too).</summary>
    private static HashSet<string> WideTensors(OnnxGraph graph, IReadOnlySet<string>? wideNodes)
    {
        var tensors = new HashSet<string>(StringComparer.Ordinal);
        foreach (var node in wideNodes is null or { Count: 0 } ? [] : graph.Nodes.Where(n => wideNodes.Contains(n.Name)))
        {
            tensors.UnionWith(DataInputs(node));
            tensors.Add(node.Output[0]);
            if (graph.Consumers(node.Output[0]) is [var reader] && QuantizableOps.Role(reader) == OpRole.Clamp)
            {
                tensors.Add(reader.Output[0]);
            }
        }

        return tensors;
    }

    /// <summary>The inputs of a node that carry activations (not shapes, axes or weights).</summary>
    private static IEnumerable<string> DataInputs(NodeProto node) => node.OpType switch
    {
        "Add" or "Mul" or "Concat" => node.Input,
        "MatMul" => node.Input.Take(2),
        _ => node.Input.Take(1),
    };

    /// <summary>Chooses the nodes to quantize, in topological order, and the activations they need quantized.</summary>
    private List<NodeProto> Plan(IReadOnlySet<string> keepFloat, out HashSet<NodeProto> clamped)
    {
        var quantized = new List<NodeProto>();
        clamped = new HashSet<NodeProto>(ReferenceEqualityComparer.Instance);
        var removed = new HashSet<NodeProto>(ReferenceEqualityComparer.Instance);
        foreach (var node in graph.TopologicalOrder())
        {
            if (removed.Contains(node) || keepFloat.Contains(node.Name))
            {
                continue;
            }

            var role = QuantizableOps.Role(node);
            var accepted = role switch
            {
                OpRole.Weighted => PlanWeighted(node),
                OpRole.Activation => PlanActivation(node),
                OpRole.Propagating => PlanPropagating(node),
                _ => false,
            };
            if (!accepted)
            {
                continue;
            }

            quantized.Add(node);
            if (role != OpRole.Propagating)
            {
                if (PlanOutput(node, keepFloat, removed))
                {
                    clamped.Add(node);
                }
            }
        }

        return quantized;
    }

    private bool PlanWeighted(NodeProto node)
    {
        if (!HasRange(node.Input[0]))
        {
            return false;
        }

        var weight = graph.Initializer(node.Input[1]);
        if (weight is null)
        {
            // MatMul of two activations quantizes both like an Add does.
            return node.OpType == "MatMul" && PlanActivation(node);
        }

        var expectedRank = node.OpType == "Conv" ? weight.Dims.Count : 2;
        if (TensorCodec.ElementTypeOf(weight) != ElementType.Float || weight.Dims.Count != expectedRank || weight.Dims.Count < 2
            || GraphScopes.IsGraphInput(graph, weight.Name))
        {
            return false;
        }

        if (node.OpType == "Gemm" && GraphEdits.IntAttribute(node, "transA", 0) != 0)
        {
            return false;
        }

        // A dense Conv whose output channels read a handful of weights each (a first layer on one image channel, 3x3)
        // runs slower in ONNX Runtime's integer kernel than in float (7.6 us float, 24 us QLinearConv on a 28x28 image),
        // and its weights are too few to matter for the size.
        if (node.OpType == "Conv" && new LayerWeight(node, weight) is { Groups: 1, RowLength: <= ShortConvReduction })
        {
            return false;
        }

        Require(node.Input[0]);
        return true;
    }

    /// <summary>Weights per output channel at or under which a dense Conv stays float.</summary>
    public const int ShortConvReduction = 16;

    private bool PlanActivation(NodeProto node)
    {
        // Only inside an integer region: every operand is already an 8-bit output of a quantized node. An operand
        // that would need a QuantizeLinear of its own (x * sigmoid(x), GELU's halves, a residual of float values)
        // costs more at run time than the integer op saves, and it splits patterns ONNX Runtime fuses in float
        // (QuickGelu, Gelu, LayerNormalization). A constant operand (x * 0.5) stays float with its node too.
        // Pooling is the exception, measured: the PaddleOCR recognizer's squeeze-excite pools kept float on float
        // inputs cost it 0.5 dB of SQNR and 1.8 points of per-step agreement against pooling on 8-bit inputs.
        var inputs = DataInputs(node).ToList();
        if (inputs.Count == 0 || inputs.Any(i => i.Length == 0 || graph.Initializer(i) is not null))
        {
            return false;
        }

        if (node.OpType is "GlobalAveragePool" or "AveragePool" && HasRange(inputs[0]))
        {
            Require(inputs[0]);
            return true;
        }

        return inputs.All(activationParams.ContainsKey);
    }

    private bool PlanPropagating(NodeProto node)
    {
        var input = node.Input[0];
        if (!activationParams.ContainsKey(input))
        {
            return false;
        }

        // Same values in, same values out: the output reuses the input's scale so no requantization happens.
        var output = node.Output[0];
        var source = sharedWith.GetValueOrDefault(input, input);
        sharedWith[output] = source;
        activationParams[output] = activationParams[input];
        quantizedTensors.Add(output);
        return true;
    }

    /// <summary>Quantizes the node's output, absorbing a following Relu or Clip(0, x) into the range when that is exact.</summary>
    private bool PlanOutput(NodeProto node, IReadOnlySet<string> keepFloat, HashSet<NodeProto> removed)
    {
        var absorbed = false;
        var output = node.Output[0];
        var readers = graph.Consumers(output);
        if (AsymmetricActivations && readers.Count == 1 && !graph.IsGraphOutput(output) && readers[0] is var clamp
            && QuantizableOps.Role(clamp) == OpRole.Clamp && !keepFloat.Contains(clamp.Name) && ClampsAtZero(graph, clamp)
            && ranges.ContainsKey(clamp.Output[0]))
        {
            node.Output[0] = clamp.Output[0];
            graph.RemoveNode(clamp);
            removed.Add(clamp);
            absorbedClamps[clamp.Output[0]] = clamp;
            output = node.Output[0];
            absorbed = true;
        }

        if (HasRange(output))
        {
            Require(output);
        }

        return absorbed;
    }

    /// <summary>
    /// A MatMul or Gemm on a constant weight whose output no quantized node reads keeps a float output (ONNX Runtime's
    /// MatMulIntegerToFloat, QGemm without an output scale): no QuantizeLinear/DequantizeLinear pair after it, the
    /// value is not rounded, and a bias Add after a MatMul joins it (see <see cref="QOperatorConverter"/>). Not after an
    /// absorbed clamp (the integer output range is the clamp) nor with 16-bit activations (these kernels are 8-bit).
    /// </summary>
    private void ReleaseFloatOutputs(List<NodeProto> quantized, HashSet<NodeProto> clamped)
    {
        var quantizedNodes = quantized.ToHashSet<NodeProto>(ReferenceEqualityComparer.Instance);
        bool ReadByQuantized(string tensor) => graph.Consumers(tensor).Any(quantizedNodes.Contains);

        // Latest first, so a Reshape or Transpose that only float nodes read goes float before the MatMul or Gemm
        // that writes its input is looked at (an out-projection Gemm -> Reshape -> Transpose -> residual Add).
        for (var i = quantized.Count - 1; i >= 0; i--)
        {
            var node = quantized[i];
            var output = node.Output[0];
            if (QuantizableOps.Role(node) == OpRole.Propagating)
            {
                if (!ReadByQuantized(output) && !sharedWith.ContainsValue(output))
                {
                    quantized.RemoveAt(i);
                    quantizedNodes.Remove(node);
                    sharedWith.Remove(output);
                    activationParams.Remove(output);
                    quantizedTensors.Remove(output);
                }

                continue;
            }

            if (node.OpType is not ("MatMul" or "Gemm") || clamped.Contains(node) || graph.Initializer(node.Input[1]) is null
                || TypeOf(node.Input[0]) is not (QuantizedType.U8 or QuantizedType.S8) || !activationParams.ContainsKey(output)
                || sharedWith.ContainsValue(output) || ReadByQuantized(output))
            {
                continue;
            }

            activationParams.Remove(output);
            quantizedTensors.Remove(output);
        }
    }

    private static bool ClampsAtZero(OnnxGraph graph, NodeProto clamp)
    {
        if (clamp.OpType == "Relu")
        {
            return true;
        }

        if (GraphEdits.FloatAttribute(clamp, "min") is { } min)
        {
            return min == 0;
        }

        return clamp.Input.Count > 1 && graph.Initializer(clamp.Input[1]) is { } bound && TensorCodec.ToSingle(bound) is [0f];
    }

    private bool HasRange(string tensor) => ranges.ContainsKey(tensor) || activationParams.ContainsKey(tensor);

    private void Require(string tensor)
    {
        if (activationParams.ContainsKey(tensor))
        {
            return;
        }

        var (min, max) = ranges[tensor];
        var symmetric = !AsymmetricActivations;
        activationParams[tensor] = QuantMath.Compute(min, max, TypeOf(tensor), symmetric);
        quantizedTensors.Add(tensor);
    }

    /// <summary>The integer type of an activation (a tensor sharing another's parameters has its type).</summary>
    private QuantizedType TypeOf(string tensor) =>
        wide.Contains(sharedWith.GetValueOrDefault(tensor, tensor)) ? Wide(options.ActivationType) : options.ActivationType;

    /// <summary>16-bit Q/DQ are com.microsoft's (ai.onnx has them only from opset 21).</summary>
    private string DomainOf(string tensor) => TypeOf(tensor) == options.ActivationType ? qdqDomain : MicrosoftDomain;

    private (string Scale, string ZeroPoint) ParamNames(string tensor)
    {
        var source = sharedWith.GetValueOrDefault(tensor, tensor);
        if (paramNames.TryGetValue(source, out var existing))
        {
            return existing;
        }

        var p = activationParams[source];
        var scale = GraphScopes.UniqueName(names, source + "_scale");
        var zeroPoint = GraphScopes.UniqueName(names, source + "_zero_point");
        graph.SetInitializer(IntegerTensors.Scales(scale, [p.Scale], perChannel: false));
        graph.SetInitializer(IntegerTensors.ZeroPoints(zeroPoint, [p.ZeroPoint], perChannel: false, QuantMath.ElementType(TypeOf(source))));
        return paramNames[source] = (scale, zeroPoint);
    }

    /// <summary>
    /// QuantizeLinear then DequantizeLinear on one activation. The output of a quantized node: every former reader
    /// reads the dequantized value (the QuantizeLinear must be the producer's only reader for the fusion) but a
    /// weighted node kept float, which reads the float value: between a DequantizeLinear and a QuantizeLinear, ONNX
    /// Runtime's WeightBiasQuantization would give its weight per-tensor int8 at load, undoing the fallback. A graph
    /// input or the output of a float node: only quantized readers move to the dequantized copy; the float readers
    /// keep the exact value, with no DequantizeLinear to run and float patterns (LayerNormalization's residual) intact.
    /// </summary>
    private void InsertQdq(string tensor, IReadOnlySet<NodeProto> floatWeighted, IReadOnlySet<NodeProto> quantizedNodes)
    {
        var (scale, zeroPoint) = ParamNames(tensor);
        var domain = DomainOf(tensor);
        var quantizedName = GraphScopes.UniqueName(names, tensor + "_quantized");
        if (graph.Producer(tensor) is { } producer && quantizedNodes.Contains(producer))
        {
            // The producer writes a new name; the DequantizeLinear takes over the old one, graph outputs included.
            var floatName = GraphScopes.UniqueName(names, tensor + "_float");
            producer.Output[producer.Output.IndexOf(tensor)] = floatName;
            var floatReaders = graph.Consumers(tensor).Where(floatWeighted.Contains).ToList();
            var floatValue = floatReaders.Count > 0 && absorbedClamps.TryGetValue(tensor, out var clamp) ? FloatClamp(clamp, floatName, tensor) : floatName;
            foreach (var reader in floatReaders)
            {
                Rename(reader, tensor, floatValue);
            }

            graph.AddNode(GraphEdits.Node("QuantizeLinear", quantizedName, [floatName, scale, zeroPoint], [quantizedName], domain));
            graph.AddNode(GraphEdits.Node("DequantizeLinear", tensor + "_dequantize", [quantizedName, scale, zeroPoint], [tensor], domain));
            return;
        }

        var dequantizedName = GraphScopes.UniqueName(names, tensor + "_dequantized");
        foreach (var reader in graph.Consumers(tensor).Where(quantizedNodes.Contains).ToList())
        {
            Rename(reader, tensor, dequantizedName);
        }

        graph.AddNode(GraphEdits.Node("QuantizeLinear", quantizedName, [tensor, scale, zeroPoint], [quantizedName], domain));
        graph.AddNode(GraphEdits.Node("DequantizeLinear", dequantizedName, [quantizedName, scale, zeroPoint], [dequantizedName], domain));
    }

    /// <summary>
    /// The absorbed clamp again, in float, on the producer's float output: its output range was the clamp, so the
    /// float value before the QuantizeLinear is unclamped and a float reader needs the clamp (a Relu6 before a
    /// depthwise Conv kept float). Returns the clamped value's name.
    /// </summary>
    private string FloatClamp(NodeProto clamp, string floatName, string tensor)
    {
        var copy = clamp.Clone();
        copy.Name = GraphScopes.UniqueName(names, (clamp.Name.Length > 0 ? clamp.Name : clamp.OpType) + "_float");
        copy.Input[0] = floatName;
        copy.Output[0] = GraphScopes.UniqueName(names, tensor + "_float_clamped");
        graph.AddNode(copy);
        return copy.Output[0];
    }

    private static void Rename(NodeProto reader, string from, string to)
    {
        for (var i = 0; i < reader.Input.Count; i++)
        {
            if (reader.Input[i] == from)
            {
                reader.Input[i] = to;
            }
        }
    }

    /// <summary>Replaces the node's weight (and bias) with DequantizeLinear of int8 (int32) initializers.</summary>
    private void QuantizeWeights(NodeProto node)
    {
        var weightTensor = graph.Initializer(node.Input[1]);
        if (weightTensor is null)
        {
            return; // MatMul of two activations: both are quantized as activations.
        }

        var axis = LayerWeight.OutputAxisOf(node); // as StaticGptq's precomputed rounding has it
        var weight = TensorCodec.ToSingle(weightTensor);
        var dims = weightTensor.Dims.ToArray();
        // A copy of a precomputed rounding: QuantizeBias may raise its scales, and other builds reuse it.
        var quantized = roundedWeights?.GetValueOrDefault(node.Name) is { } rounded
            ? rounded with { Values = (int[])rounded.Values.Clone(), Scales = (float[])rounded.Scales.Clone() }
            : WeightQuantizer.Quantize(weight, dims, axis, options.PerChannel, options.WeightType, options.Symmetric, options.ReduceRange);

        var bias = node.Input.Count > 2 && node.Input[2].Length > 0 ? graph.Initializer(node.Input[2]) : null;
        var biasFits = bias is not null && TensorCodec.ElementTypeOf(bias) == ElementType.Float && bias.Dims.Count == 1 && bias.Dims[0] == dims[axis]
            && (node.OpType != "Gemm" || GraphEdits.FloatAttribute(node, "alpha") is null or 1f && GraphEdits.FloatAttribute(node, "beta") is null or 1f);
        if (biasFits)
        {
            // The bias may raise weight scales (see QuantizeBias), so it is done before the weights are written.
            var inputScale = activationParams[node.Input[0]].Scale;
            var floatBias = TensorCodec.ToSingle(bias!);
            // Corrected for the rounding of these weights; a scale QuantizeBias raises belongs to a channel of ~0
            // weights, whose rounding shifts nothing worth correcting.
            if (node.OpType == "Conv" && tapMeans?.Means(node.Name) is { } means)
            {
                ConvTapMeans.Correct(floatBias, weight, dims, GraphEdits.IntAttribute(node, "group", 1), quantized, means);
            }

            var (values, scales) = WeightQuantizer.QuantizeBias(floatBias, inputScale, weight, quantized,
                WeightQuantizer.Inner(dims, axis), options.WeightType, options.ReduceRange);
            var perChannel = options.PerChannel;
            node.Input[2] = Dequantized(bias!.Name, [bias.Dims[0]], values, perChannel ? scales : [scales[0]], new int[perChannel ? scales.Length : 1],
                ElementType.Int32, perChannel, 0);
        }

        node.Input[1] = Dequantized(weightTensor.Name, dims, quantized.Values, quantized.Scales, quantized.ZeroPoints,
            QuantMath.ElementType(options.WeightType), quantized.PerChannel, axis);
    }

    private string Dequantized(string stem, long[] dims, int[] values, float[] scales, int[] zeroPoints, ElementType type, bool perChannel, int axis)
    {
        var quantizedName = GraphScopes.UniqueName(names, stem + "_quantized");
        var scaleName = GraphScopes.UniqueName(names, stem + "_scale");
        var zeroPointName = GraphScopes.UniqueName(names, stem + "_zero_point");
        var output = GraphScopes.UniqueName(names, stem + "_dequantized");
        graph.SetInitializer(IntegerTensors.Create(quantizedName, dims, values, type));
        graph.SetInitializer(IntegerTensors.Scales(scaleName, scales, perChannel));
        graph.SetInitializer(IntegerTensors.ZeroPoints(zeroPointName, zeroPoints, perChannel, type));
        var dequantize = GraphEdits.Node("DequantizeLinear", output, [quantizedName, scaleName, zeroPointName], [output], qdqDomain);
        if (perChannel)
        {
            dequantize.Attribute.Add(GraphEdits.Int("axis", axis));
        }

        graph.AddNode(dequantize);
        return output;
    }
}
