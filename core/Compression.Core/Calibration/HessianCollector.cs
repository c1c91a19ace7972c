using Compression.Core.Data;
using Compression.Core.Diagnostics;
using Compression.Core.Evaluation;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Protobuf;

namespace Compression.Core.Calibration;

/// <summary>
/// One layer input whose Hessian is collected: the value the layer reads and its feature count (K). A Conv's
/// input is read through <see cref="Patches"/>: each output position's receptive field is one row of C x kh x kw
/// features, the Conv's reduction dimension.
/// </summary>
internal sealed record HessianInput(string Value, int Size, ConvPatches? Patches = null)
{
    /// <summary>Layers reading the same value the same way share one Hessian.</summary>
    public string Key => Patches is null ? Value : $"{Value}|{Patches.Key}";

    /// <summary>A Conv's inputs, one per group: each group's filters read only its own C/group input channels.</summary>
    public static HessianInput[] OfConvGroups(NodeProto conv, IReadOnlyList<long> weightDims, int groups)
    {
        var inputs = new HessianInput[groups];
        for (var g = 0; g < groups; g++)
        {
            var patches = ConvPatches.Of(conv, weightDims, groups, g);
            inputs[g] = new HessianInput(conv.Input[0], patches.Size, patches);
        }

        return inputs;
    }
}

/// <summary>Which calibration samples are run, and in what batches.</summary>
internal sealed record CalibrationWindow(string Data, int Samples, int BatchSize);

/// <summary>
/// Runs the float model once over the calibration samples, capturing every layer input in the same pass, and folds
/// each batch into one Hessian per input (layers that read an input the same way share it): GPTQ's and SparseGPT's
/// statistics. Token positions that an <c>attention_mask</c> input marks as padding are left out: they never reach
/// the model's result.
/// </summary>
internal static class HessianCollector
{
    private const string AttentionMask = "attention_mask";

    /// <summary>
    /// The accumulators by <see cref="HessianInput.Key"/>, from <paramref name="data"/> (the data set the window names);
    /// <paramref name="purpose"/> names the user in messages.
    /// </summary>
    public static Dictionary<string, HessianAccumulator> Collect(OnnxModel model, IReadOnlyList<HessianInput> inputs, CalibrationWindow window,
        IDataSource data, string purpose, ICompressionLog log, CancellationToken cancellation)
    {
        var distinct = inputs.DistinctBy(i => i.Key).ToList();
        var accumulators = distinct.ToDictionary(i => i.Key, i => new HessianAccumulator(i.Size), StringComparer.Ordinal);
        int samples;
        try
        {
            samples = Accumulate(model, distinct, accumulators, data, window, purpose, log, cancellation);
        }
        catch (CompressionException error) when (error.Code == ErrorCodes.DataSetEmpty)
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.CalibrationDataEmpty,
                $"The calibration data set '{window.Data}' gave no samples for {purpose}: {error.Message}"), error);
        }

        if (samples == 0 || accumulators.Values.Any(a => a.Rows == 0))
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.CalibrationDataEmpty,
                $"The calibration data set '{window.Data}' gave no samples (or only padding) for {purpose}."));
        }

        log.Verbose($"{purpose}: Hessians of {distinct.Count} layer inputs from {samples} samples.");
        return accumulators;
    }

    /// <summary>Folds batches into the accumulators until the window's sample count; returns the samples seen.</summary>
    private static int Accumulate(OnnxModel model, List<HessianInput> inputs, Dictionary<string, HessianAccumulator> accumulators, IDataSource data,
        CalibrationWindow window, string purpose, ICompressionLog log, CancellationToken cancellation)
    {
        var values = inputs.Select(i => i.Value).Distinct(StringComparer.Ordinal).ToList();
        var samples = 0;
        foreach (var (batch, outputs) in ActivationCapture.Capture(model, values, data.FirstSamples(window.Samples), window.BatchSize, Environment.ProcessorCount, cancellation))
        {
            var decoded = new DecodedOnce(outputs); // a depthwise Conv reads its input once per group (hundreds of Hessians)
            foreach (var input in inputs)
            {
                var output = decoded[values.IndexOf(input.Value)];
                var accumulator = accumulators[input.Key];
                if (input.Patches is { } patches)
                {
                    patches.AddTo(accumulator, output, input.Value);
                    continue;
                }

                if (output.Shape.Length == 0 || output.Shape[^1] != accumulator.Size)
                {
                    throw new CompressionException(Diagnostic.Error(ErrorCodes.CalibrationDataMismatch,
                        $"The input '{input.Value}' of a layer came out as [{string.Join(", ", output.Shape)}] on the calibration data; its last dimension must be {accumulator.Size}."));
                }

                accumulator.Add(output.Values, TokenMask(batch, output.Shape));
            }

            samples += batch.Count;
            log.Progress(purpose, $"calibration: {samples} samples", Math.Min(1, (double)samples / window.Samples));
            if (samples >= window.Samples)
            {
                break;
            }
        }

        return samples;
    }

    /// <summary>One flag per activation row: false where the batch's attention mask of the same [batch, sequence] says padding.</summary>
    internal static bool[] TokenMask(DataBatch batch, long[] activationShape)
    {
        var mask = batch.Inputs.FirstOrDefault(i => i.Name == AttentionMask);
        if (mask is null || mask.Shape.Length != 2 || activationShape.Length != 3
            || mask.Shape[0] != activationShape[0] || mask.Shape[1] != activationShape[1])
        {
            return [];
        }

        var keep = new bool[mask.ElementCount];
        switch (mask.Values)
        {
            case long[] longs:
                for (var i = 0; i < keep.Length; i++)
                {
                    keep[i] = longs[i] != 0;
                }

                break;
            case int[] ints:
                for (var i = 0; i < keep.Length; i++)
                {
                    keep[i] = ints[i] != 0;
                }

                break;
            default:
                return [];
        }

        return keep;
    }
}
