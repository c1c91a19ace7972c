using System.Diagnostics;
using Compression.Core.Diagnostics;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Passes;
using Compression.Core.Passes.Graph;
using Compression.Core.Quantization.Recurrent;

namespace Compression.Core.Quantization.WeightOnly;

/// <summary>
/// Weight-only quantization: MatMul and Gemm on constant float weights become MatMulNBits, Gathers on constant
/// float tables become GatherBlockQuantized (both com.microsoft, run by ONNX Runtime's CPU provider), with 4- or
/// 8-bit codes in blocks along the reduction dimension; LSTM, GRU and RNN weights are stored in 8 bits per row
/// (<see cref="RecurrentQuantizer"/>). Activations stay float. Rounding is RTN with a per-block
/// clip search, or GPTQ on calibration data.
/// </summary>
internal sealed class WeightOnlyQuantizer : IModeQuantizer
{
    private Dictionary<string, double[]> hessianCache = [];

    public PassResult Quantize(OnnxModel model, QuantizeOptions options, PassContext context)
    {
        options = options.WithConcreteAlgorithm(QuantizationMode.WeightOnly);
        Validate(options, context);
        QuantizedModelCheck.ThrowIfQuantized(model);
        var stopwatch = Stopwatch.StartNew();
        var exclusions = new NodeExclusions(options.Exclude);

        // MatMulNBits has no recurrent counterpart: LSTM, GRU and RNN get 8-bit storage of W and R. Done first, so the
        // graphs and names below see the nodes as they end up and GPTQ's Hessians the weights the model will really have.
        var recurrent = RecurrentQuantizer.Quantize(model.MainGraph, options, exclusions, context);
        var layouts = new LayerLayouts(options, OutputLayers.Of(model.MainGraph));
        var biases = new Dictionary<NodeProto, GemmBias>(ReferenceEqualityComparer.Instance);
        var names = GraphScopes.AllValueNames(model);
        var targets = Targets(model, options, exclusions, layouts, names, biases, context.Log);

        var statistics = new Dictionary<string, object>
        {
            ["bits"] = options.Bits,
            ["block_size"] = options.BlockSize,
            ["algorithm"] = options.Algorithm.ToString().ToLowerInvariant(),
            ["quantized_matmul"] = targets.Count(t => t.Node.OpType == "MatMul"),
            ["quantized_gemm"] = targets.Count(t => t.Node.OpType == "Gemm"),
            ["quantized_gather"] = targets.Count(t => t.IsEmbedding),
        };
        if (targets.Select(t => t.Layout).Distinct().Count() > 1)
        {
            // How many weights took each bits/block-size pair, e.g. "4/128": 31, "8/128": 6.
            statistics["layouts"] = targets.GroupBy(t => $"{t.Layout.Bits}/{t.Layout.BlockSize}").OrderBy(g => g.Key, StringComparer.Ordinal)
                .ToDictionary(g => g.Key, g => g.Count());
        }

        recurrent.AddTo(statistics);
        if (targets.Count == 0)
        {
            if (recurrent.Quantized == 0)
            {
                context.Log.Report(Diagnostic.Warning(ErrorCodes.NothingQuantized,
                    "Weight-only quantization found no MatMul, Gemm, Gather, LSTM, GRU or RNN on a constant float weight to quantize; the model is unchanged."));
            }

            statistics["weight_bytes_before"] = 0L;
            statistics["weight_bytes_after"] = 0L;
            return new PassResult(model, statistics);
        }

        var hessians = options.Algorithm == WeightOnlyAlgorithm.Gptq ? Hessians(model, options, layouts, context) : [];

        long bytesBefore = 0, bytesAfter = 0;
        for (var i = 0; i < targets.Count; i++)
        {
            context.Cancellation.ThrowIfCancellationRequested();
            var target = targets[i];
            context.Log.Progress("Weight-only quantization", target.Node.Name.Length > 0 ? target.Node.Name : target.Node.OpType, (double)i / targets.Count);
            var quantized = !target.IsEmbedding && hessians.TryGetValue(target.Node.Input[0], out var hessian) && ReferenceEquals(target.Graph.Proto, model.Proto.Graph)
                ? GptqQuantizer.Quantize(target.Rows(), target.RowCount, target.Length, hessian, target.Layout, context.Cancellation)
                : BlockQuantizer.QuantizeRows(target.Rows(), target.RowCount, target.Length, target.Layout, context.Cancellation);
            bytesBefore += target.FloatBytes;
            if (target.IsEmbedding)
            {
                bytesAfter += EmbeddingRewriter.Rewrite(target, quantized, names);
            }
            else
            {
                var gemm = biases.GetValueOrDefault(target.Node, new GemmBias(1f, null, null));
                if (gemm.ScaledBias is not null)
                {
                    target.Graph.SetInitializer(gemm.ScaledBias);
                }

                bytesAfter += MatMulNBitsRewriter.Rewrite(target, quantized, gemm.Alpha, gemm.Bias, names);
            }
        }

        foreach (var group in targets.GroupBy(t => t.Graph))
        {
            // The weights, and a Gemm's C that was replaced by its beta-scaled copy, unless something else reads them.
            ConstantSources.RemoveUnread(group.Key, group.SelectMany(t => t.Node.Input));
        }

        if (model.OpsetVersion(MatMulNBitsRewriter.Domain) is null)
        {
            model.Proto.OpsetImport.Add(new OperatorSetIdProto { Domain = MatMulNBitsRewriter.Domain, Version = 1 });
        }

        statistics["weight_bytes_before"] = bytesBefore;
        statistics["weight_bytes_after"] = bytesAfter;
        context.Log.Verbose($"quantize: {targets.Count} weights to {options.Bits} bits ({options.Algorithm}), " +
            $"{TensorCodec.FormatBytes(bytesBefore)} -> {TensorCodec.FormatBytes(bytesAfter)} in {stopwatch.Elapsed.TotalSeconds:F1} s.");
        return new PassResult(model, statistics);
    }

    /// <summary>The nodes to quantize: MatMul and Gemm on constant float weights, and embedding Gathers when asked, in every graph.</summary>
    private static List<WeightTarget> Targets(OnnxModel model, QuantizeOptions options, NodeExclusions exclusion, LayerLayouts layouts, HashSet<string> names,
        Dictionary<NodeProto, GemmBias> biases, ICompressionLog log)
    {
        var targets = new List<WeightTarget>();
        foreach (var graph in GraphScopes.InnermostFirst(model))
        {
            foreach (var node in graph.Proto.Node)
            {
                if (!GraphScopes.IsStandard(node) || exclusion.Excludes(node))
                {
                    continue;
                }

                var layout = layouts.For(node);
                var target = node.OpType switch
                {
                    "MatMul" => MatMulTarget(graph, node),
                    "Gemm" => GemmTarget(graph, node, names, biases, log),
                    "Gather" when options.QuantizeEmbeddings => EmbeddingTarget(graph, node, layout, log),
                    _ => null,
                };
                if (target is not null)
                {
                    targets.Add(target with { Layout = layout });
                }
            }
        }

        return targets;
    }

    /// <summary>
    /// GPTQ's Hessians of every main-graph MatMul/Gemm input, excluded nodes included, collected once per quantizer: the
    /// Hessians come from the float model, so fallback's many runs over copies of it (each with other nodes excluded)
    /// share one calibration pass.
    /// </summary>
    private Dictionary<string, double[]> Hessians(OnnxModel model, QuantizeOptions options, LayerLayouts layouts, PassContext context)
    {
        var all = Targets(model, options, new NodeExclusions([]), layouts, GraphScopes.AllValueNames(model), new(ReferenceEqualityComparer.Instance), new CollectingLog());
        var inputs = GptqInputs(model, all);
        if (!inputs.Keys.All(hessianCache.ContainsKey))
        {
            hessianCache = HessianCollector.Collect(model, inputs, options.Calibration!, context);
        }

        return hessianCache;
    }

    /// <summary>Checks the options before anything is read or written.</summary>
    private static void Validate(QuantizeOptions options, PassContext context)
    {
        ValidateLayout(options.Bits, options.BlockSize, "");
        ValidateLayout(options.OutputLayerBits, options.BlockSize, " (output_layer_bits)");
        foreach (var (pattern, layer) in options.Layers)
        {
            ValidateLayout(layer?.Bits ?? options.Bits, layer?.BlockSize ?? options.BlockSize, $" (layers '{pattern}')");
        }

        if (options.Algorithm == WeightOnlyAlgorithm.Gptq && options.Calibration is null)
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.CalibrationDataMissing,
                "GPTQ needs calibration data: set calibration.data to a data set of the recipe."));
        }

        if (options.Algorithm == WeightOnlyAlgorithm.Gptq && !context.DataSets.ContainsKey(options.Calibration!.Data))
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.CalibrationDataMissing,
                $"GPTQ calibrates on the data set '{options.Calibration.Data}', which the recipe does not define."));
        }
    }

    private static void ValidateLayout(int bits, int blockSize, string where)
    {
        if (bits is not (4 or 8))
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.QuantizationBits,
                $"Weight-only quantization takes 4 or 8 bits; got {bits}{where}."));
        }

        if (blockSize is < 16 or > 256 || (blockSize & (blockSize - 1)) != 0)
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.QuantizationBlockSize,
                $"The weight-only block size must be a power of two from 16 to 256; got {blockSize}{where}."));
        }
    }

    /// <summary>
    /// The layout of each node: the first <c>layers</c> entry that matches it, else the step's block size with
    /// <c>output_layer_bits</c> for a layer that writes a model output (<see cref="OutputLayers"/>), the step's bits for the rest.
    /// </summary>
    private sealed class LayerLayouts(QuantizeOptions options, IReadOnlySet<string> outputLayers)
    {
        private readonly NodeRules<LayerQuantizeSpec> rules = new(options.Layers);

        public BlockLayout For(NodeProto node) => rules.For(node) is { Value: var layer }
            ? new BlockLayout(layer.Bits ?? options.Bits, layer.BlockSize ?? options.BlockSize, options.Symmetric)
            : new BlockLayout(outputLayers.Contains(node.Name) ? options.OutputLayerBits : options.Bits, options.BlockSize, options.Symmetric);
    }

    /// <summary>A constant float 2-D weight of this graph, or null.</summary>
    private static TensorProto? FloatMatrix(OnnxGraph graph, string name) =>
        ConstantSources.Find(graph, name) is { } tensor && TensorCodec.ElementTypeOf(tensor) == ElementType.Float && tensor.Dims.Count == 2
            && tensor.Dims[0] > 0 && tensor.Dims[1] > 0 ? tensor : null;

    private static WeightTarget? MatMulTarget(OnnxGraph graph, NodeProto node) =>
        FloatMatrix(graph, node.Input[1]) is { } weight && ConstantSources.Find(graph, node.Input[0]) is null
            ? new WeightTarget(graph, node, weight, StoredAsRows: false)
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
        return new WeightTarget(graph, node, weight, StoredAsRows: Attribute(node, "transB")?.I is 1);
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

        return new WeightTarget(graph, node, table, StoredAsRows: true);
    }

    /// <summary>The main-graph MatMul/Gemm inputs GPTQ needs a Hessian of, with their sizes (K).</summary>
    private static Dictionary<string, int> GptqInputs(OnnxModel model, List<WeightTarget> targets)
    {
        var inputs = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var target in targets)
        {
            if (!target.IsEmbedding && ReferenceEquals(target.Graph.Proto, model.Proto.Graph))
            {
                inputs[target.Node.Input[0]] = target.Length;
            }
        }

        return inputs;
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
