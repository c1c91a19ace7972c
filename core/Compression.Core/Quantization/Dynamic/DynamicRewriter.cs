using Compression.Core.Layers;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Passes.Graph;
using Compression.Core.Quantization.Recurrent;

namespace Compression.Core.Quantization.Dynamic;

/// <summary>
/// Rewrites single nodes of the main graph for <see cref="DynamicQuantizer"/>, each by its entry of <see cref="DynamicOps"/>,
/// and holds what the entries share: finding a weight, quantizing it, writing the MatMul form, replacing the node. A
/// weight read by several nodes is quantized once; the float originals go in <see cref="Finish"/> when nothing reads
/// them any more.
/// </summary>
internal sealed class DynamicRewriter
{
    /// <summary>
    /// Why a MatMul or Gemm was left whose B is computed from the model's inputs: two activations multiplied (attention's
    /// queries by keys, scores by values). There is no weight to quantize offline and nothing for a user to change.
    /// </summary>
    public const string ActivationTimesActivation = "B is computed from the model's inputs (two activations multiplied, as in attention)";

    private const string MicrosoftDomain = "com.microsoft";

    private readonly OnnxModel model;
    private readonly OnnxGraph graph;
    private readonly QuantizeOptions options;
    private readonly DynamicMatMulForm form;
    private readonly HashSet<string> names;
    private readonly Dictionary<string, QuantizedInitializers> matMulWeights = new(StringComparer.Ordinal);
    private readonly Dictionary<string, QuantizedInitializers> tables = new(StringComparer.Ordinal);
    private readonly IntegerLstm lstm;
    private readonly HashSet<string> replacedWeights = new(StringComparer.Ordinal);
    private readonly List<NodeProto> foldedReshapes = [];
    private bool usesMicrosoftDomain;

    public DynamicRewriter(OnnxModel model, QuantizeOptions options, DynamicMatMulForm form)
    {
        this.model = model;
        graph = model.MainGraph;
        this.options = options;
        this.form = form;
        names = GraphScopes.AllValueNames(model);
        lstm = new IntegerLstm(graph, options, names);
    }

    public OnnxModel Model => model;

    /// <summary>The main graph it edits; another editor of the graph must use this instance, whose node indexes it keeps current.</summary>
    public OnnxGraph Graph => graph;

    public QuantizeOptions Options => options;

    public DynamicMatMulForm Form => form;

    public int QuantizedNodes { get; private set; }

    public Dictionary<string, int> QuantizedByOp { get; } = new(StringComparer.Ordinal);

    public int QuantizedWeights => matMulWeights.Count + tables.Count + lstm.Weights;

    private ElementType CodeType => QuantMath.ElementType(options.WeightType);

    /// <summary>Smooths the activations layer norms feed to MatMuls (see <see cref="LayerNormSmoothing"/>); returns how many.</summary>
    public int SmoothLayerNormOutputs(NodeExclusions exclusions)
    {
        var count = LayerNormSmoothing.Apply(graph, Constant, UniqueName, exclusions, replacedWeights);
        ConstantSources.RemoveUnread(graph, replacedWeights);
        graph.SortTopologically();
        return count;
    }

    /// <summary>
    /// Rewrites a node by its entry of <see cref="DynamicOps"/>, handing it the entry's weight input when that is a
    /// constant float matrix (also given back in <paramref name="weight"/>, for the step's row); returns why the node
    /// stays float, or null.
    /// </summary>
    public string? Rewrite(NodeProto node, IDynamicOpRewrite rewrite, out TensorProto? weight)
    {
        weight = rewrite.WeightInput is { } input ? FloatMatrix(node.Input[input]) : null;
        return rewrite.Rewrite(this, node, weight);
    }

    /// <summary>An LSTM as DynamicQuantizeLSTM (<see cref="IntegerLstm"/>); returns the bytes its quantized W and R take.</summary>
    public long QuantizeLstm(RecurrentWeights weights)
    {
        var bytes = lstm.Rewrite(weights);
        replacedWeights.Add(weights.W.Name);
        replacedWeights.Add(weights.R.Name);
        Count("LSTM");
        return bytes;
    }

    /// <summary>Drops float weights nothing reads any more, restores the node order and declares the contrib domain.</summary>
    public void Finish()
    {
        foreach (var reshape in foldedReshapes.Distinct())
        {
            if (graph.Consumers(reshape.Output[0]).Count == 0 && !graph.IsGraphOutput(reshape.Output[0]))
            {
                graph.RemoveNode(reshape);
                GraphScopes.RemoveValueInfo(graph, reshape.Output[0]);
                replacedWeights.UnionWith(reshape.Input);
            }
        }

        ConstantSources.RemoveUnread(graph, replacedWeights);
        lstm.Finish();
        RemoveUnreadListedInitializers();
        graph.SortTopologically();
        if (usesMicrosoftDomain && model.OpsetVersion(MicrosoftDomain) is null)
        {
            model.Proto.OpsetImport.Add(new OperatorSetIdProto { Domain = MicrosoftDomain, Version = 1 });
        }
    }

    /// <summary>
    /// A constant of the graph. Before IR 4 every initializer had to be listed as a graph input too, so there the
    /// listing says nothing about intent to override and the initializer counts as a weight.
    /// </summary>
    public TensorProto? Constant(string name) =>
        ConstantSources.Find(graph, name) ?? (model.Proto.IrVersion < 4 && name.Length > 0 ? graph.Initializer(name) : null);

    /// <summary>Why B is no weight: an activation (<see cref="ActivationTimesActivation"/>), or a constant of another kind.</summary>
    public string NoWeight(string b) =>
        Constant(b) is null && ComputedFromInputs(b) ? ActivationTimesActivation : "the weight (B) is not a constant float matrix";

    /// <summary>A MatMul's B [K, N] (stored [N, K] when <paramref name="transpose"/>) in 8 bits, quantized once however many nodes read it.</summary>
    public QuantizedInitializers MatMulWeight(TensorProto weight, bool transpose, int k, int n)
    {
        var key = weight.Name.Length > 0 ? weight.Name : Guid.NewGuid().ToString("N");
        var source = transpose ? key + "_transposed" : key;
        if (matMulWeights.TryGetValue(source, out var known))
        {
            return known;
        }

        var values = WeightQuantizer.FloatBytes(weight);
        if (transpose)
        {
            values = WeightQuantizer.Transpose(values.Span, n, k);
        }

        var quantized = WeightQuantizer.QuantizeColumns(values, k, n, options.WeightType, options.Symmetric, options.ReduceRange, options.PerChannel);
        var result = Store(weight.Name, quantized, [k, n], quantized.PerChannel ? [n] : []);
        replacedWeights.Add(weight.Name);
        matMulWeights[source] = result;
        return result;
    }

    /// <summary>An embedding table [rows, columns] in 8 bits, quantized once however many Gathers read it.</summary>
    public QuantizedInitializers EmbeddingTable(TensorProto table, int rows, int columns)
    {
        if (tables.TryGetValue(table.Name, out var known))
        {
            return known;
        }

        // No reduced range: a table is only gathered, never multiplied in 8 bits, so the 8th bit costs nothing.
        var values = WeightQuantizer.FloatBytes(table);
        var quantized = WeightQuantizer.QuantizeColumns(values, rows, columns, options.WeightType, options.Symmetric, reduceRange: false, options.PerChannel);
        var result = StoreTable(table.Name, quantized, rows, columns);
        replacedWeights.Add(table.Name);
        tables[table.Name] = result;
        return result;
    }

    /// <summary>
    /// The nodes that multiply <paramref name="input"/> by a quantized weight in this rewriter's form and add the bias if
    /// any, writing <paramref name="output"/>.
    /// </summary>
    public NodeProto[] EmitMatMul(NodeProto node, string input, QuantizedInitializers weight, string scale, float[]? bias, string output)
    {
        string? biasName = bias is null ? null : AddInitializer(TensorCodec.FromSingle(UniqueName(output + "_bias"), [bias.Length], bias, ElementType.Float));
        if (form == DynamicMatMulForm.DynamicQuantizeMatMul)
        {
            usesMicrosoftDomain = true;
            var inputs = new List<string> { input, weight.Codes, scale, weight.ZeroPoint ?? "", biasName ?? "" };
            while (inputs[^1].Length == 0)
            {
                inputs.RemoveAt(inputs.Count - 1);
            }

            var fused = Node("DynamicQuantizeMatMul", [.. inputs], [output], node.Name + "_quant");
            fused.Domain = MicrosoftDomain;
            return [fused];
        }

        // The pattern ONNX Runtime's MatMulIntegerToFloat fusion recognizes: the two scales multiplied first.
        var stem = node.Output[0];
        var (activation, activationScale, activationZeroPoint) = (UniqueName(stem + "_a_quantized"), UniqueName(stem + "_a_scale"), UniqueName(stem + "_a_zero_point"));
        var (product, widened, combinedScale) = (UniqueName(stem + "_int32"), UniqueName(stem + "_int32_float"), UniqueName(stem + "_scale"));
        var unbiased = biasName is null ? output : UniqueName(stem + "_unbiased");
        var integerInputs = weight.ZeroPoint is null
            ? new[] { activation, weight.Codes, activationZeroPoint }
            : [activation, weight.Codes, activationZeroPoint, weight.ZeroPoint];
        var nodes = new List<NodeProto>
        {
            Node("DynamicQuantizeLinear", [input], [activation, activationScale, activationZeroPoint], node.Name + "_quantize_a"),
            Node("MatMulInteger", integerInputs, [product], node.Name + "_integer"),
            Node("Cast", [product], [widened], node.Name + "_cast", ("to", (long)ElementType.Float)),
            Node("Mul", [activationScale, scale], [combinedScale], node.Name + "_scales"),
            Node("Mul", [widened, combinedScale], [unbiased], node.Name + "_rescale"),
        };
        if (biasName is not null)
        {
            nodes.Add(Node("Add", [unbiased, biasName], [output], node.Name + "_bias"));
        }

        return [.. nodes];
    }

    public string AddInitializer(TensorProto tensor)
    {
        graph.SetInitializer(tensor);
        return tensor.Name;
    }

    public string UniqueName(string stem) => GraphScopes.UniqueName(names, stem);

    /// <summary>A float constant a rewrite no longer reads: it goes in <see cref="Finish"/> once nothing else does.</summary>
    public void MarkReplaced(string name) => replacedWeights.Add(name);

    /// <summary>Puts <paramref name="nodes"/> in the place of <paramref name="node"/> and counts it as quantized.</summary>
    public void Replace(NodeProto node, NodeProto[] nodes)
    {
        graph.ReplaceNode(node, nodes);
        Count(node.OpType);
    }

    /// <summary>
    /// A standard-domain node with int attributes. Not <see cref="GraphEdits.Node"/>: that sets the domain to "", which
    /// proto2 writes out, so the output's bytes would change.
    /// </summary>
    public static NodeProto Node(string opType, string[] inputs, string[] outputs, string name, params (string Name, long Value)[] attributes)
    {
        var node = new NodeProto { OpType = opType, Name = name };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        foreach (var (attributeName, value) in attributes)
        {
            node.Attribute.Add(new AttributeProto { Name = attributeName, Type = AttributeProto.Types.AttributeType.Int, I = value });
        }

        return node;
    }

    /// <summary>Before IR 4, a replaced initializer is also a graph input: both go once nothing reads them.</summary>
    private void RemoveUnreadListedInitializers()
    {
        if (model.Proto.IrVersion >= 4)
        {
            return;
        }

        foreach (var name in replacedWeights)
        {
            if (graph.Initializer(name) is null || graph.Consumers(name).Count > 0 || graph.IsGraphOutput(name))
            {
                continue;
            }

            graph.RemoveInitializer(name);
            for (var i = graph.Proto.Input.Count - 1; i >= 0; i--)
            {
                if (graph.Proto.Input[i].Name == name)
                {
                    graph.Proto.Input.RemoveAt(i);
                }
            }
        }
    }

    /// <summary>Whether a value depends on a graph input (or an outer-scope value) through any chain of nodes.</summary>
    private bool ComputedFromInputs(string name)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var pending = new Stack<string>([name]);
        while (pending.TryPop(out var value))
        {
            if (value.Length == 0 || !seen.Add(value) || Constant(value) is not null)
            {
                continue;
            }

            if (graph.Producer(value) is not { } producer)
            {
                if (graph.Initializer(value) is null)
                {
                    return true;
                }

                continue;
            }

            foreach (var input in producer.Input)
            {
                pending.Push(input);
            }
        }

        return false;
    }

    private TensorProto? FloatMatrix(string name)
    {
        var tensor = Constant(name) ?? ReshapedConstant(name);
        return tensor is not null && TensorCodec.ElementTypeOf(tensor) == ElementType.Float && tensor.Dims.Count == 2
            && tensor.Dims[0] > 0 && tensor.Dims[1] > 0 ? tensor : null;
    }

    /// <summary>
    /// A constant reshaped by a Reshape node (CNTK and some PyTorch exports store the classifier's weight in the
    /// conv layout and reshape it in the graph), as a tensor named after the Reshape's output. The Reshape goes in
    /// <see cref="Finish"/> once nothing reads it.
    /// </summary>
    private TensorProto? ReshapedConstant(string name)
    {
        if (graph.Producer(name) is not { OpType: "Reshape" } reshape || !GraphScopes.IsStandard(reshape) || reshape.Input.Count < 2
            || Constant(reshape.Input[0]) is not { } data || Constant(reshape.Input[1]) is not { } shapeTensor
            || GraphEdits.IntAttribute(reshape, "allowzero", 0) != 0)
        {
            return null;
        }

        var shape = TensorCodec.ToInt64(shapeTensor);
        var count = TensorCodec.ElementCount(data);
        long known = 1;
        var inferred = -1;
        for (var i = 0; i < shape.Length; i++)
        {
            if (shape[i] == 0 && i < data.Dims.Count)
            {
                shape[i] = data.Dims[i];
            }

            if (shape[i] == -1)
            {
                inferred = i;
            }
            else
            {
                known *= shape[i];
            }
        }

        if (inferred >= 0 && known > 0)
        {
            shape[inferred] = count / known;
        }

        if (TensorCodec.ElementCount(shape) != count)
        {
            return null;
        }

        var reshaped = data.Clone();
        reshaped.Name = name;
        reshaped.Dims.Clear();
        reshaped.Dims.AddRange(shape);
        foldedReshapes.Add(reshape);
        return reshaped;
    }

    private QuantizedInitializers Store(string stem, QuantizedWeight weight, long[] dims, long[] parameterDims)
    {
        var codes = AddInitializer(Codes(UniqueName(stem + "_quantized"), dims, weight.Codes, CodeType));
        var scale = AddInitializer(TensorCodec.FromSingle(UniqueName(stem + "_scale"), parameterDims, weight.Scales, ElementType.Float));
        string? zeroPoint = null;
        if (weight.HasNonZeroZeroPoint)
        {
            var bytes = new byte[weight.ZeroPoints.Length];
            for (var i = 0; i < bytes.Length; i++)
            {
                bytes[i] = (byte)weight.ZeroPoints[i];
            }

            zeroPoint = AddInitializer(TensorCodec.FromRaw(UniqueName(stem + "_zero_point"), parameterDims, CodeType, bytes));
        }

        return new QuantizedInitializers(codes, scale, zeroPoint);
    }

    /// <summary>A table's scales (and zero points, as floats for the Sub) are [D] per column, so they broadcast over the gathered rows.</summary>
    private QuantizedInitializers StoreTable(string stem, QuantizedWeight weight, int rows, int columns)
    {
        long[] parameterDims = weight.PerChannel ? [columns] : [];
        var codes = AddInitializer(Codes(UniqueName(stem + "_quantized"), [rows, columns], weight.Codes, CodeType));
        var scale = AddInitializer(TensorCodec.FromSingle(UniqueName(stem + "_scale"), parameterDims, weight.Scales, ElementType.Float));
        string? zeroPoint = null;
        if (weight.HasNonZeroZeroPoint)
        {
            var zeroPoints = new float[weight.ZeroPoints.Length];
            for (var i = 0; i < zeroPoints.Length; i++)
            {
                zeroPoints[i] = weight.ZeroPoints[i];
            }

            zeroPoint = AddInitializer(TensorCodec.FromSingle(UniqueName(stem + "_zero_point"), parameterDims, zeroPoints, ElementType.Float));
        }

        return new QuantizedInitializers(codes, scale, zeroPoint);
    }

    /// <summary>The codes tensor wraps the array (no copy): it is megabytes and nothing else holds it.</summary>
    private static TensorProto Codes(string name, long[] dims, byte[] codes, ElementType type)
    {
        var tensor = new TensorProto { Name = name, DataType = (int)type, RawData = Google.Protobuf.UnsafeByteOperations.UnsafeWrap(codes) };
        tensor.Dims.AddRange(dims);
        return tensor;
    }

    private void Count(string opType)
    {
        QuantizedNodes++;
        QuantizedByOp[opType] = QuantizedByOp.GetValueOrDefault(opType) + 1;
    }
}
