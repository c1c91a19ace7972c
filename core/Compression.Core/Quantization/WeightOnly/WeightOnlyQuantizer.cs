using System.Diagnostics;
using Compression.Core.Calibration;
using Compression.Core.Diagnostics;
using Compression.Core.Layers;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Inspection;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Options;
using Compression.Core.Passes;
using Compression.Core.Passes.Graph;
using Compression.Core.Quantization.Recurrent;

namespace Compression.Core.Quantization.WeightOnly;

/// <summary>
/// Weight-only quantization: MatMul and Gemm on constant float weights become MatMulNBits, Gathers on constant
/// float tables become GatherBlockQuantized (both com.microsoft, run by ONNX Runtime's CPU provider), Convs on
/// constant float weights read them through the standard block-quantized DequantizeLinear (opset 21, raised to when
/// needed), all with 4- or 8-bit codes in blocks along the reduction dimension; LSTM, GRU and RNN weights are stored
/// in 8 bits per row (<see cref="RecurrentQuantizer"/>). Activations stay float. Rounding is RTN with a per-block
/// clip search, or GPTQ on calibration data.
/// </summary>
internal sealed class WeightOnlyQuantizer : IModeQuantizer
{
    private Dictionary<string, HessianAccumulator> hessianCache = [];

    public PassResult Quantize(OnnxModel model, QuantizeOptions options, PassContext context)
    {
        options = options.WithConcreteAlgorithm(QuantizationMode.WeightOnly);
        Validate(options, context);
        QuantizedModelCheck.ThrowIfQuantized(model);
        // An IR 3 model lists its weights as graph inputs too (mnist-8), which makes them overridable, not constants.
        model.MainGraph.DropInitializerInputs();
        var layouts = new LayerLayouts(options, OutputLayers.Of(model.MainGraph));
        var stopwatch = Stopwatch.StartNew();
        var exclusion = new NodeExclusions(options.Exclude);
        // Before the opset is raised: calibration data that gives nothing leaves the model untouched.
        var hessians = options.Algorithm == WeightOnlyAlgorithm.Gptq ? Hessians(model, options, layouts, context) : [];
        var convs = RaiseOpsetForConvs(model, exclusion, layouts, context.Log);

        // MatMulNBits has no recurrent counterpart: LSTM, GRU and RNN get 8-bit storage of W and R. Done before the
        // targets are found, so their graphs and the names below see the nodes as they end up.
        var recurrent = RecurrentQuantizer.Quantize(model.MainGraph, options, exclusion, context);
        var biases = new Dictionary<NodeProto, GemmBias>(ReferenceEqualityComparer.Instance);
        var names = GraphScopes.AllValueNames(model);
        var targets = Targets(model, options, exclusion, layouts, names, biases, convs, context.Log);

        var algorithm = options.Algorithm.ToString().ToLowerInvariant();
        var result = new WeightOnlyQuantizeResult(options.Bits, options.BlockSize, algorithm,
            targets.Count(t => t.Node.OpType == "MatMul"), targets.Count(t => t.Node.OpType == "Gemm"), targets.Count(t => t.IsConv), targets.Count(t => t.IsEmbedding))
        {
            // How many weights took each bits/block-size pair, e.g. "4/128": 31, "8/128": 6.
            Layouts = targets.Select(t => t.Layout).Distinct().Count() > 1
                ? targets.GroupBy(t => $"{t.Layout.Bits}/{t.Layout.BlockSize}").OrderBy(g => g.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count())
                : null,
            Recurrent = recurrent.Figures,
        };
        if (targets.Count == 0)
        {
            if (recurrent.Quantized == 0)
            {
                context.Log.Report(Diagnostic.Warning(ErrorCodes.NothingQuantized,
                    "Weight-only quantization found no MatMul, Gemm, Conv, Gather, LSTM, GRU or RNN on a constant float weight to quantize; the model is unchanged."));
            }

            return new PassResult(model, result);
        }

        // The weights, and a Gemm's C that is replaced by its beta-scaled copy, go after the rewrites unless something else reads them;
        // taken now, as a Conv's weight input is about to name its dequantized weight instead.
        var replaced = targets.GroupBy(t => t.Graph).Select(g => (Graph: g.Key, Inputs: g.SelectMany(t => t.Node.Input).ToList())).ToList();
        long bytesBefore = 0, bytesAfter = 0;
        var rows = new List<LayerRow>(targets.Count);
        for (var i = 0; i < targets.Count; i++)
        {
            context.Cancellation.ThrowIfCancellationRequested();
            var target = targets[i];
            context.Log.Progress("Weight-only quantization", target.Node.Name.Length > 0 ? target.Node.Name : target.Node.OpType, (double)i / targets.Count);
            var quantized = Round(model, target, hessians, context.Cancellation);
            var row = new LayerRow(target.Node.Name, target.Node.OpType, $"{target.Layout.Bits}-bit blocks of {target.Layout.BlockSize} ({algorithm})")
            {
                Weight = target.Weight.Tensor.Name,
                Shape = target.Weight.Dims.ToArray(),
                BytesBefore = target.FloatBytes,
            };
            long written;
            if (target.IsEmbedding)
            {
                written = EmbeddingRewriter.Rewrite(target, quantized, names);
            }
            else if (target.IsConv)
            {
                written = ConvWeightRewriter.Rewrite(target, quantized, names);
            }
            else
            {
                var gemm = biases.GetValueOrDefault(target.Node, new GemmBias(1f, null, null));
                if (gemm.ScaledBias is not null)
                {
                    target.Graph.SetInitializer(gemm.ScaledBias);
                }

                written = MatMulNBitsRewriter.Rewrite(target, quantized, gemm.Alpha, gemm.Bias, names);
            }

            bytesBefore += target.FloatBytes;
            bytesAfter += written;
            rows.Add(row with { BytesAfter = written });
        }

        foreach (var (graph, inputs) in replaced)
        {
            ConstantSources.RemoveUnread(graph, inputs);
        }

        if (targets.Any(t => !t.IsConv) && model.OpsetVersion(MatMulNBitsRewriter.Domain) is null)
        {
            model.Proto.OpsetImport.Add(new OperatorSetIdProto { Domain = MatMulNBitsRewriter.Domain, Version = 1 });
        }

        context.Log.Verbose($"quantize: {targets.Count} weights to {options.Bits} bits ({options.Algorithm}), " +
            $"{TensorCodec.FormatBytes(bytesBefore)} -> {TensorCodec.FormatBytes(bytesAfter)} in {stopwatch.Elapsed.TotalSeconds:F1} s.");
        return new PassResult(model, result with { WeightBytesBefore = bytesBefore, WeightBytesAfter = bytesAfter, Layers = rows });
    }

    /// <summary>
    /// The nodes to quantize: MatMul and Gemm on constant float weights, Convs when <paramref name="convs"/>, and
    /// embedding Gathers when asked, in every graph.
    /// </summary>
    private static List<WeightTarget> Targets(OnnxModel model, QuantizeOptions options, NodeExclusions exclusion, LayerLayouts layouts, HashSet<string> names,
        Dictionary<NodeProto, GemmBias> biases, bool convs, ICompressionLog log)
    {
        var targets = new List<WeightTarget>();
        var tiny = new List<WeightTarget>();
        foreach (var (graph, node) in Candidates(model, exclusion))
        {
            var layout = layouts.For(node);
            var target = node.OpType switch
            {
                "MatMul" => MatMulTarget(graph, node),
                "Gemm" => GemmTarget(graph, node, names, biases, log),
                "Conv" when convs => ConvTarget(graph, node),
                "Gather" when options.QuantizeEmbeddings => EmbeddingTarget(graph, node, layout, log),
                _ => null,
            };
            if (target is null)
            {
                continue;
            }

            target = target with { Layout = target.IsConv ? layouts.For(target) : layout };
            if (target.IsConv && ConvWeightRewriter.StoredBytes(target) >= target.FloatBytes)
            {
                tiny.Add(target);
                continue;
            }

            targets.Add(target);
        }

        if (tiny.Count > 0)
        {
            log.Report(Diagnostic.Warning(ErrorCodes.NodeLeftInFloat,
                $"{tiny.Count} Conv(s) stay in float, their weights too small for blocked integers and a scale per block to take fewer bytes: " +
                string.Join(", ", tiny.Select(t => $"'{OnnxGraph.Describe(t.Node)} ({t.Weight.RowLength} weights per output channel)")) + "."));
        }

        return targets;
    }

    /// <summary>The standard-domain nodes of every graph that the exclusions leave to quantize.</summary>
    private static IEnumerable<(OnnxGraph Graph, NodeProto Node)> Candidates(OnnxModel model, NodeExclusions exclusion)
    {
        foreach (var graph in GraphScopes.InnermostFirst(model))
        {
            foreach (var node in graph.Proto.Node)
            {
                if (GraphScopes.IsStandard(node) && !exclusion.Excludes(node))
                {
                    yield return (graph, node);
                }
            }
        }
    }

    /// <summary>
    /// Block-quantized DequantizeLinear needs opset 21. When a model of an older opset has Convs to quantize, raises its
    /// opset with every other node carried over (<see cref="OpsetUpgrade"/>); when some op cannot be, the Convs stay in
    /// float with one warning naming the op and why, and the model is left as it was. Returns whether Convs are quantized.
    /// </summary>
    private static bool RaiseOpsetForConvs(OnnxModel model, NodeExclusions exclusion, LayerLayouts layouts, ICompressionLog log)
    {
        var convs = Candidates(model, exclusion)
            .Select(c => c.Node.OpType == "Conv" ? ConvTarget(c.Graph, c.Node) : null)
            .Count(t => t is not null && ConvWeightRewriter.StoredBytes(t with { Layout = layouts.For(t) }) < t.FloatBytes);
        var opset = model.OpsetVersion("") ?? 1;
        if (convs == 0 || OpsetUpgrade.TryRaise(model, ConvWeightRewriter.Opset) is not { } blocker)
        {
            return true;
        }

        log.Report(Diagnostic.Warning(ErrorCodes.NodeLeftInFloat,
            $"{convs} Conv(s) stay in float: block-quantized DequantizeLinear needs opset {ConvWeightRewriter.Opset}, and this opset {opset} model cannot be raised to it ({blocker})."));
        return false;
    }

    /// <summary>
    /// GPTQ's Hessians of every main-graph MatMul/Gemm input and Conv's input patches, excluded nodes included,
    /// collected once per quantizer: the Hessians come from the float model, so fallback's many runs over copies of it
    /// (each with other nodes excluded) share one calibration pass.
    /// </summary>
    private Dictionary<string, HessianAccumulator> Hessians(OnnxModel model, QuantizeOptions options, LayerLayouts layouts, PassContext context)
    {
        var all = Targets(model, options, new NodeExclusions([]), layouts, GraphScopes.AllValueNames(model), new(ReferenceEqualityComparer.Instance),
            convs: true, new CollectingLog());
        var inputs = all.Where(t => ReferenceEquals(t.Graph.Proto, model.Proto.Graph)).SelectMany(t => HessianInputs(t) ?? []).ToList();
        if (inputs.Count > 0 && !inputs.All(i => hessianCache.ContainsKey(i.Key)))
        {
            var spec = options.Calibration!;
            hessianCache = HessianCollector.Collect(model, inputs, new CalibrationWindow(spec.Data, spec.Samples, spec.BatchSize), context.DataSets[spec.Data], "GPTQ", context.Log, context.Cancellation);
        }

        return hessianCache;
    }

    /// <summary>The data set GPTQ calibrates on must exist (the options themselves are checked by <see cref="QuantizeOptions.Problems"/>).</summary>
    private static void Validate(QuantizeOptions options, PassContext context)
    {
        OptionChecks.ThrowIfInvalid(options);
        if (options.Algorithm == WeightOnlyAlgorithm.Gptq && !context.DataSets.ContainsKey(options.Calibration!.Data))
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.CalibrationDataMissing,
                $"GPTQ calibrates on the data set '{options.Calibration.Data}', which the recipe does not define."));
        }
    }

    /// <summary>
    /// The layout of each node: the first <c>layers</c> entry that matches it, else the step's block size with
    /// <c>output_layer_bits</c> for a layer that writes a model output (<see cref="OutputLayers"/>), 8 bits for a Conv
    /// whose output channels read at most <see cref="ShortKernel"/> weights each, the step's bits for the rest.
    /// </summary>
    private sealed class LayerLayouts(QuantizeOptions options, IReadOnlySet<string> outputLayers)
    {
        /// <summary>
        /// A depthwise 3x3 kernel has 9 weights per channel: 4 bits with a scale per 9 values saves a few hundred bytes
        /// and cost a squeeze-excite MobileNet of the export corpus 1.3 points of top-1 (8 bits: none).
        /// </summary>
        public const int ShortKernel = 16;

        private readonly NodeRules<LayerQuantizeSpec> rules = new(options.Layers);

        /// <summary>The layout of <paramref name="node"/>, whose output features each read <paramref name="rowLength"/> values (a Conv: C/group x kernel) when known.</summary>
        public BlockLayout For(NodeProto node, long rowLength = long.MaxValue) => rules.For(node) is { Value: var layer }
            ? new BlockLayout(layer.Bits ?? options.Bits, layer.BlockSize ?? options.BlockSize, options.Symmetric)
            : new BlockLayout(
                outputLayers.Contains(node.Name) ? options.OutputLayerBits
                    : node.OpType == "Conv" && rowLength <= ShortKernel ? Math.Max(8, options.Bits)
                    : options.Bits,
                options.BlockSize, options.Symmetric);

        public BlockLayout For(WeightTarget target) => For(target.Node, target.IsConv ? target.Weight.RowLength : long.MaxValue);
    }

    /// <summary>A constant float 2-D weight of this graph, or null.</summary>
    private static TensorProto? FloatMatrix(OnnxGraph graph, string name) =>
        ConstantSources.Find(graph, name) is { } tensor && TensorCodec.ElementTypeOf(tensor) == ElementType.Float && tensor.Dims.Count == 2
            && tensor.Dims[0] > 0 && tensor.Dims[1] > 0 ? tensor : null;

    private static WeightTarget? MatMulTarget(OnnxGraph graph, NodeProto node) =>
        FloatMatrix(graph, node.Input[1]) is { } weight && ConstantSources.Find(graph, node.Input[0]) is null
            ? new WeightTarget(graph, new LayerWeight(node, weight))
            : null;

    /// <summary>
    /// A Conv with 1 to 3 spatial dims on a constant float weight [M, C/group, k...]; its rows are the M output
    /// channels. A Conv whose data input is a constant too is left for constant folding.
    /// </summary>
    private static WeightTarget? ConvTarget(OnnxGraph graph, NodeProto node) =>
        node.Input.Count > 1 && ConstantSources.Find(graph, node.Input[1]) is { } weight && TensorCodec.ElementTypeOf(weight) == ElementType.Float
            && weight.Dims.Count is >= 3 and <= 5 && weight.Dims.All(d => d > 0) && ConstantSources.Find(graph, node.Input[0]) is null
            ? new WeightTarget(graph, new LayerWeight(node, weight))
            : null;

    /// <summary>
    /// Gemm computes alpha * A' * B' + beta * C. transA = 1 is left alone (MatMulNBits has no transposed A);
    /// alpha goes into the scales, beta into a copy of a constant C (added to the graph only when the node is
    /// rewritten, so a refusal later leaves the model untouched), which an Add applies after MatMulNBits.
    /// </summary>
    private static WeightTarget? GemmTarget(OnnxGraph graph, NodeProto node, HashSet<string> names,
        Dictionary<NodeProto, GemmBias> biases, ICompressionLog log)
    {
        if (FloatMatrix(graph, node.Input[1]) is not { } weight)
        {
            return null;
        }

        var describe = OnnxGraph.Describe(node);
        if (Attribute(node, "transA")?.I is 1)
        {
            log.Report(Diagnostic.Warning(ErrorCodes.NodeLeftInFloat, $"'{describe} stays in float: MatMulNBits cannot read a transposed A (transA = 1)."));
            return null;
        }

        var alpha = Attribute(node, "alpha")?.F ?? 1f;
        var beta = Attribute(node, "beta")?.F ?? 1f;
        string? bias = null;
        TensorProto? scaled = null;
        if (node.Input.Count > 2 && node.Input[2].Length > 0 && beta != 0)
        {
            if (beta == 1)
            {
                bias = node.Input[2];
            }
            else if (ConstantSources.Find(graph, node.Input[2]) is { } constant && TensorCodec.ElementTypeOf(constant) == ElementType.Float)
            {
                var values = TensorCodec.ToSingle(constant);
                for (var i = 0; i < values.Length; i++)
                {
                    values[i] *= beta;
                }

                scaled = TensorCodec.FromSingle(GraphScopes.UniqueName(names, $"{node.Input[2]}_beta"), constant.Dims.ToArray(), values, ElementType.Float);
                bias = scaled.Name;
            }
            else
            {
                log.Report(Diagnostic.Warning(ErrorCodes.NodeLeftInFloat, $"'{describe} stays in float: its C is computed and beta is not 1."));
                return null;
            }
        }

        biases[node] = new GemmBias(alpha, bias, scaled);
        return new WeightTarget(graph, new LayerWeight(node, weight));
    }

    private static WeightTarget? EmbeddingTarget(OnnxGraph graph, NodeProto node, BlockLayout layout, ICompressionLog log)
    {
        if (FloatMatrix(graph, node.Input[0]) is not { } table || (Attribute(node, "axis")?.I ?? 0) is not (0 or -2))
        {
            return null;
        }

        var hidden = (int)table.Dims[1];
        if (hidden * layout.Bits % 8 != 0)
        {
            log.Report(Diagnostic.Warning(ErrorCodes.NodeLeftInFloat,
                $"'{OnnxGraph.Describe(node)} stays in float: its table's rows ({hidden} values) do not fill whole bytes at {layout.Bits} bits."));
            return null;
        }

        return new WeightTarget(graph, new LayerWeight(node, table));
    }

    /// <summary>
    /// The weight's codes: GPTQ on the Hessians of the layer's inputs when the target is in the main graph and they
    /// were collected, round-to-nearest otherwise. A grouped Conv's output channels see only their group's input
    /// channels: one Hessian, and one GPTQ run, per group.
    /// </summary>
    private static QuantizedRows Round(OnnxModel model, WeightTarget target, Dictionary<string, HessianAccumulator> hessians, CancellationToken cancellation)
    {
        var (rowCount, length) = (target.Weight.Rows, target.Weight.RowLength);
        var rows = target.Weight.ReadRows();
        if (!ReferenceEquals(target.Graph.Proto, model.Proto.Graph) || HessianInputs(target) is not { } inputs || !inputs.All(i => hessians.ContainsKey(i.Key)))
        {
            return BlockQuantizer.QuantizeRows(rows, rowCount, length, target.Layout, cancellation);
        }

        if (inputs.Length == 1)
        {
            return GptqQuantizer.Quantize(rows, rowCount, length, hessians[inputs[0].Key].Hessian(), target.Layout, cancellation);
        }

        var result = new QuantizedRows(rowCount, length, target.Layout);
        var groupRows = rowCount / inputs.Length;
        for (var g = 0; g < inputs.Length; g++)
        {
            var weight = rows.AsSpan(g * groupRows * length, groupRows * length).ToArray();
            result.CopyRows(GptqQuantizer.Quantize(weight, groupRows, length, hessians[inputs[g].Key].Hessian(), target.Layout, cancellation), g * groupRows);
        }

        return result;
    }

    /// <summary>
    /// The inputs whose Hessians GPTQ quantizes a target with: a MatMul's or Gemm's input (K features), a 1-D or 2-D
    /// Conv's input patches (C/group x taps, <see cref="ConvPatches"/>), one per conv group. Null for embeddings and 3-D
    /// Convs (no patch reader), which keep round-to-nearest.
    /// </summary>
    private static HessianInput[]? HessianInputs(WeightTarget target)
    {
        if (target.IsEmbedding)
        {
            return null;
        }

        if (!target.IsConv)
        {
            return [new HessianInput(target.Node.Input[0], target.Weight.RowLength)];
        }

        var groups = target.Weight.Groups;
        if (target.Weight.Dims.Count > 4 || groups < 1 || target.Weight.Rows % groups != 0)
        {
            return null;
        }

        return HessianInput.OfConvGroups(target.Node, target.Weight.Dims, groups);
    }

    /// <summary>What a Gemm adds to its product: alpha (into the scales) and the value an Add applies, maybe a new beta-scaled C.</summary>
    private sealed record GemmBias(float Alpha, string? Bias, TensorProto? ScaledBias);

    private static AttributeProto? Attribute(NodeProto node, string name)
    {
        foreach (var attribute in node.Attribute)
        {
            if (attribute.Name == name)
            {
                return attribute;
            }
        }

        return null;
    }
}
