using System.Diagnostics;
using Compression.Core.Diagnostics;
using Compression.Core.Layers;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Inspection;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Passes;
using Compression.Core.Passes.Graph;
using Compression.Core.Quantization.Recurrent;

namespace Compression.Core.Quantization.Dynamic;

/// <summary>
/// Dynamic int8: weights are quantized offline and activations at run time, each node by its op type's entry of
/// <see cref="DynamicOps"/>. MatMul and Gemm with constant float weights become <see cref="DynamicMatMulForm"/> nodes;
/// embedding tables (Gather on a constant float [V, D]) are stored in 8 bits and dequantized after the gather, so only
/// the gathered rows are ever expanded; Conv stays float. LSTM becomes DynamicQuantizeLSTM; GRU and RNN, which have no
/// integer kernel, keep float compute on 8-bit stored weights (<see cref="RecurrentQuantizer"/>). Only the main graph
/// is rewritten; operators inside subgraphs keep float and are reported.
/// </summary>
internal sealed class DynamicQuantizer(DynamicMatMulForm form = DynamicMatMulForm.DynamicQuantizeMatMul) : IModeQuantizer
{
    public PassResult Quantize(OnnxModel model, QuantizeOptions options, PassContext context)
    {
        QuantizedModelCheck.ThrowIfQuantized(model);
        if (options.WeightType is not (QuantizedType.S8 or QuantizedType.U8))
        {
            throw new ArgumentException($"Dynamic quantization stores weights as s8 or u8, not {options.WeightType}.", nameof(options));
        }

        var started = Stopwatch.GetTimestamp();
        var effectiveForm = form == DynamicMatMulForm.MatMulInteger && (model.OpsetVersion("") ?? 1) < 11
            ? DynamicMatMulForm.DynamicQuantizeMatMul
            : form;
        if (effectiveForm != form)
        {
            context.Log.Verbose("quantize: MatMulInteger needs opset 11 (DynamicQuantizeLinear); this model is older, so DynamicQuantizeMatMul is used.");
        }

        var rewriter = new DynamicRewriter(model, options, effectiveForm);
        var exclusions = new NodeExclusions(options.Exclude);
        var smoothed = rewriter.SmoothLayerNormOutputs(exclusions);
        var skipped = new Dictionary<string, string>(StringComparer.Ordinal);
        var graph = model.MainGraph;
        var rows = new List<LayerRow>();
        foreach (var node in graph.Proto.Node.ToList())
        {
            context.Cancellation.ThrowIfCancellationRequested();
            if (DynamicOps.Find(node) is not { } rewrite)
            {
                continue;
            }

            if (exclusions.Excludes(node))
            {
                skipped[Describe(node)] = "excluded";
                continue;
            }

            var quantizedBefore = rewriter.QuantizedNodes;
            if (rewriter.Rewrite(node, rewrite, out var weight) is { } reason)
            {
                skipped[Describe(node)] = reason;
            }
            else if (rewriter.QuantizedNodes > quantizedBefore && weight is not null)
            {
                rows.Add(Row(node, weight, effectiveForm));
            }
        }

        var recurrent = RecurrentQuantizer.Quantize(rewriter.Graph, options, exclusions, context, DynamicOps.RecurrentForms(rewriter));
        rewriter.Finish();
        ReportSkipped(model, skipped, context);
        if (rewriter.QuantizedNodes == 0 && recurrent.Quantized == 0)
        {
            context.Log.Report(Diagnostic.Warning(ErrorCodes.NothingQuantized,
                $"Dynamic quantization found no {string.Join(", ", DynamicOps.WeightedOpTypes)}, LSTM, GRU or RNN on constant float weights to quantize; " +
                "the model is unchanged.", model.Path));
        }

        var elapsed = Stopwatch.GetElapsedTime(started);
        context.Log.Verbose($"quantize: dynamic int8 quantized {rewriter.QuantizedNodes} nodes in {elapsed.TotalMilliseconds:F0} ms.");
        return new PassResult(model, new DynamicQuantizeResult(effectiveForm.ToString(), rewriter.QuantizedNodes, rewriter.QuantizedWeights, rewriter.QuantizedByOp, smoothed, skipped)
        {
            Recurrent = recurrent.Figures,
            Layers = rows,
        });
    }

    /// <summary>A quantized node's row: its weight's bytes in float and in int8 (the scales and zero points aside).</summary>
    private static LayerRow Row(NodeProto node, TensorProto weight, DynamicMatMulForm form) =>
        new(Describe(node), node.OpType, node.OpType == "Gather" ? "int8 table, dequantized after the gather" : $"int8 weights, activations quantized as it runs ({form})")
        {
            Weight = weight.Name,
            Shape = weight.Dims.ToArray(),
            BytesBefore = TensorCodec.StoredByteLength(weight),
            BytesAfter = TensorCodec.ElementCount(weight),
        };

    private static string Describe(NodeProto node) => node.Name.Length > 0 ? node.Name : $"{node.OpType}:{node.Output[0]}";

    /// <summary>One warning per reason (a model can skip dozens of Convs for the same one), and one for subgraphs.</summary>
    private static void ReportSkipped(OnnxModel model, Dictionary<string, string> skipped, PassContext context)
    {
        foreach (var group in skipped.GroupBy(s => s.Value))
        {
            var names = group.Select(s => s.Key).ToList();
            var shown = string.Join(", ", names.Take(5)) + (names.Count > 5 ? $" and {names.Count - 5} more" : "");
            var message = $"Dynamic quantization left {names.Count} node(s) in float ({group.Key}): {shown}.";
            if (group.Key == DynamicRewriter.ActivationTimesActivation)
            {
                // Attention multiplies two activations: there is no weight, so nothing was lost and nothing can be done.
                context.Log.Verbose($"quantize: {message}");
                continue;
            }

            context.Log.Report(Diagnostic.Warning(ErrorCodes.QuantizationFallback, message, model.Path));
        }

        var inSubgraphs = 0;
        foreach (var node in model.Proto.Graph.Node)
        {
            foreach (var subgraph in model.MainGraph.Subgraphs(node))
            {
                inSubgraphs += subgraph.AllNodes().Count(n => DynamicOps.WeightedOpTypes.Contains(n.Node.OpType));
            }
        }

        if (inSubgraphs > 0)
        {
            context.Log.Report(Diagnostic.Warning(ErrorCodes.QuantizationFallback,
                $"Dynamic quantization left {inSubgraphs} {string.Join("/", DynamicOps.WeightedOpTypes)} node(s) inside subgraphs (If, Loop, Scan bodies) " +
                "in float.", model.Path));
        }
    }
}
