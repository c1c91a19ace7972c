using Compression.Core.Diagnostics;
using Compression.Core.Layers;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Inspection;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Passes;

namespace Compression.Core.Quantization.Float;

/// <summary>
/// Float16 or bfloat16. Full conversion stores float32 weights in the target type and computes in it, except ops
/// on the block list (<see cref="FloatBlockList"/>, <see cref="QuantizeOptions.OpBlockList"/>,
/// <see cref="QuantizeOptions.Exclude"/>), which stay float32 behind Casts. Storage-only keeps float32 arithmetic
/// and stores each weight in 16 bits with one Cast that ONNX Runtime folds at load: half the file, float32 speed.
/// The converted model is loaded in ONNX Runtime before it is returned; an op found without a kernel joins the
/// block list and the conversion is redone from the original.
/// </summary>
internal sealed class FloatConverter : IModeQuantizer
{
    /// <summary>Each retry blocks one more op type; a model has far fewer distinct op types than this.</summary>
    private const int MaxLoadAttempts = 32;

    private readonly ElementType target;

    public FloatConverter(ElementType target)
    {
        if (target is not (ElementType.Float16 or ElementType.BFloat16))
        {
            throw new ArgumentOutOfRangeException(nameof(target), target, "The target is float16 or bfloat16.");
        }

        this.target = target;
    }

    public PassResult Quantize(OnnxModel model, QuantizeOptions options, PassContext context)
    {
        QuantizedModelCheck.ThrowIfQuantized(model);
        if (options.StorageOnly)
        {
            var stored = new OnnxModel(model.Proto.Clone(), model.Path);
            var converted = StorageOnlyRewriter.Rewrite(stored, target);
            return Checked(stored, context, new FloatQuantizeResult(ElementTypes.OnnxName(target)) { StorageOnly = true, StoredInitializers = converted });
        }

        var blocked = new HashSet<string>(FloatBlockList.Default, StringComparer.Ordinal);
        blocked.UnionWith(options.OpBlockList);
        var foundMissing = new List<string>();
        for (var attempt = 0; attempt < MaxLoadAttempts; attempt++)
        {
            context.Cancellation.ThrowIfCancellationRequested();
            var candidate = new OnnxModel(model.Proto.Clone(), model.Path);
            var rewriter = new PrecisionRewriter(candidate, target, blocked, new NodeExclusions(options.Exclude), options.KeepIoTypes);
            rewriter.Rewrite();
            var (missing, value, error) = OrtLoadCheck.TryLoadNaming(candidate, optimized: false);
            if (error is null && OrtLoadCheck.TryLoad(candidate).Error is { } optimizedError)
            {
                throw LoadFailure(model, $"after ONNX Runtime's graph optimizations: {optimizedError}");
            }

            if (error is null)
            {
                ReportBlocked(rewriter.BlockedNodes, foundMissing, context, model.Path);
                return new PassResult(candidate, new FloatQuantizeResult(ElementTypes.OnnxName(target))
                {
                    ConvertedNodes = rewriter.ConvertedNodes,
                    ConvertedInitializers = rewriter.ConvertedInitializers,
                    BlockedNodes = rewriter.BlockedNodes,
                    CastsInserted = rewriter.CastsInserted,
                    BlockedAtLoad = foundMissing,
                });
            }

            var culprits = missing is null ? [] : Culprits(candidate, missing, value).Where(blocked.Add).ToList();
            if (culprits.Count == 0)
            {
                throw LoadFailure(model, error);
            }

            foundMissing.AddRange(culprits);
            context.Log.Verbose($"quantize: ONNX Runtime has no {ElementTypes.OnnxName(target)} kernel for {missing} here; {string.Join(", ", culprits)} stay float32.");
        }

        throw LoadFailure(model, "too many op types without kernels");
    }

    /// <summary>
    /// The op types to keep in float32 for a kernel ONNX Runtime lacks: the op itself when the graph has it, else the
    /// function ops (Softmax and the like) ONNX Runtime expands into it when it has no kernel for them either, else the
    /// ops reading the value ONNX Runtime named (Clip has no bfloat16 kernel, and its expansion refuses its bounds).
    /// </summary>
    private static IEnumerable<string> Culprits(OnnxModel model, string missing, string? value)
    {
        var present = model.Proto.Graph.Node.Select(n => n.OpType).ToHashSet(StringComparer.Ordinal);
        var readers = value is null ? [] : model.Proto.Graph.Node.Where(n => n.Input.Contains(value)).Select(n => n.OpType).Distinct();
        return present.Contains(missing) ? [missing] : FloatBlockList.FunctionOps.Where(present.Contains).Concat(readers).Distinct();
    }

    private PassResult Checked(OnnxModel model, PassContext context, FloatQuantizeResult result)
    {
        var (_, error) = OrtLoadCheck.TryLoad(model);
        if (error is not null)
        {
            throw LoadFailure(model, error);
        }

        context.Log.Verbose($"quantize: {result.StoredInitializers} weights stored as {ElementTypes.OnnxName(target)}, computed in float32.");
        return new PassResult(model, result);
    }

    private CompressionException LoadFailure(OnnxModel model, string error) =>
        new(Diagnostic.Error(ErrorCodes.GraphInvalid,
            $"The {ElementTypes.OnnxName(target)} model does not load in ONNX Runtime ({error}); add the op to op_block_list or exclude it.", model.Path));

    private void ReportBlocked(Dictionary<string, int> blockedNodes, List<string> foundMissing, PassContext context, string? path)
    {
        if (blockedNodes.Count == 0)
        {
            return;
        }

        var listed = string.Join(", ", blockedNodes.Select(b => $"{b.Key} x{b.Value}"));
        var found = foundMissing.Count == 0 ? "" : $" ({string.Join(", ", foundMissing)} have no {ElementTypes.OnnxName(target)} kernel in ONNX Runtime here)";
        context.Log.Report(Diagnostic.Warning(ErrorCodes.QuantizationFallback,
            $"{ElementTypes.OnnxName(target)} conversion kept these ops in float32 behind Casts: {listed}{found}.", path));
    }
}
