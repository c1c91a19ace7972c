using Compression.Core.Diagnostics;
using Compression.Core.Layers;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Inspection;
using Compression.Core.Passes;
using Compression.Core.Passes.Graph;

namespace Compression.Core.Quantization.Fallback;

/// <summary>
/// <c>fallback:</c> for the modes that rewrite weighted nodes one by one (dynamic and weight-only): the mode quantizes
/// each layer alone (the others through <see cref="QuantizeOptions.Exclude"/>) on a copy of the model, and
/// <see cref="LayerFallback"/> measures those on the calibration data and picks the layers that stay float; the mode
/// then quantizes the model once with them excluded. A layer is a named MatMul, Gemm, Gather or Conv of the main graph
/// that the mode quantizes when it is alone. Static mode runs its own (its layers share calibrated ranges).
/// </summary>
internal sealed class FallbackQuantizer(IModeQuantizer mode) : IModeQuantizer
{
    private static readonly HashSet<string> LayerOpTypes = new(StringComparer.Ordinal) { "MatMul", "Gemm", "Gather", "Conv" };

    public PassResult Quantize(OnnxModel model, QuantizeOptions options, PassContext context)
    {
        var fallback = options.Fallback ?? throw new ArgumentException("No fallback options.", nameof(options));
        var spec = options.Calibration ?? throw new CompressionException(Diagnostic.Error(ErrorCodes.CalibrationDataMissing,
            "Fallback measures each layer on calibration data: add calibration: { data: <name> }.", model.Path));
        if (!context.DataSets.TryGetValue(spec.Data, out var data))
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.CalibrationDataMissing,
                $"The calibration data set '{spec.Data}' is not defined; defined: {(context.DataSets.Count == 0 ? "none" : string.Join(", ", context.DataSets.Keys))}.", model.Path));
        }

        QuantizedModelCheck.ThrowIfQuantized(model);
        var layers = Layers(model, options);
        var keepFloat = new HashSet<string>(StringComparer.Ordinal);
        FallbackFigures figures;
        using (var workspace = new CandidateWorkspace(model, data, spec))
        {
            figures = LayerFallback.Apply(layers, floatNodes => QuantizeCopy(model, options, floatNodes, context), keepFloat, fallback, workspace, context, model.Path);
        }

        var result = mode.Quantize(model, options with { Fallback = null, Exclude = [.. options.Exclude, .. keepFloat] }, context);
        return result with { Result = (QuantizeResult)result.Result with { Fallback = figures } };
    }

    /// <summary>
    /// Named candidate nodes not excluded already. A name that holds a wildcard or equals an op type cannot be excluded
    /// alone, so such a node is not measured (it is quantized as usual).
    /// </summary>
    private static List<string> Layers(OnnxModel model, QuantizeOptions options)
    {
        var exclusions = new NodeExclusions(options.Exclude);
        var opTypes = model.Proto.Graph.Node.Select(n => n.OpType).ToHashSet(StringComparer.Ordinal);
        var layers = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var node in model.Proto.Graph.Node)
        {
            if (GraphScopes.IsStandard(node) && LayerOpTypes.Contains(node.OpType) && node.Name.Length > 0 && !exclusions.Excludes(node)
                && node.Name.IndexOfAny(['*', '?']) < 0 && !opTypes.Contains(node.Name) && seen.Add(node.Name))
            {
                layers.Add(node.Name);
            }
        }

        return layers;
    }

    /// <summary>The mode's result on a copy of the model with the nodes kept float; null when it quantized nothing.</summary>
    private OnnxModel? QuantizeCopy(OnnxModel model, QuantizeOptions options, IReadOnlySet<string> floatNodes, PassContext context)
    {
        var log = new CollectingLog();
        var quiet = new PassContext(log, context.Cancellation) { DataSets = context.DataSets };
        var result = mode.Quantize(new OnnxModel(model.Proto.Clone(), model.Path), options with { Fallback = null, Exclude = [.. options.Exclude, .. floatNodes] }, quiet);
        return log.Diagnostics.Any(d => d.Code == ErrorCodes.NothingQuantized) ? null : result.Model;
    }
}
