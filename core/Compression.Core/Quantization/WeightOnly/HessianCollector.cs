using Compression.Core.Data;
using Compression.Core.Diagnostics;
using Compression.Core.Evaluation;
using Compression.Core.Onnx;
using Compression.Core.Passes;

namespace Compression.Core.Quantization.WeightOnly;

/// <summary>
/// Runs the float model once over the calibration samples, capturing every MatMul input GPTQ needs in the same
/// pass, and folds each batch into one Hessian per input value (MatMuls that share an input share it). Token
/// positions that an <c>attention_mask</c> input marks as padding are left out: they never reach the model's result.
/// </summary>
internal static class HessianCollector
{
    private const string AttentionMask = "attention_mask";

    public static Dictionary<string, double[]> Collect(OnnxModel model, IReadOnlyDictionary<string, int> inputSizes, CalibrationSpec calibration,
        PassContext context)
    {
        var data = context.DataSets[calibration.Data]; // checked with the options
        var values = inputSizes.Keys.ToList();
        var accumulators = values.Select(v => new HessianAccumulator(inputSizes[v])).ToList();
        int samples;
        try
        {
            samples = Accumulate(model, values, accumulators, data, calibration, context);
        }
        catch (CompressionException error) when (error.Code == ErrorCodes.DataSetEmpty)
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.CalibrationDataEmpty,
                $"The calibration data set '{calibration.Data}' gave no samples for GPTQ: {error.Message}"), error);
        }

        if (samples == 0 || accumulators.Any(a => a.Rows == 0))
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.CalibrationDataEmpty,
                $"The calibration data set '{calibration.Data}' gave no samples (or only padding) for GPTQ."));
        }

        context.Log.Verbose($"quantize: GPTQ Hessians of {values.Count} MatMul inputs from {samples} samples.");
        var hessians = new Dictionary<string, double[]>(StringComparer.Ordinal);
        for (var i = 0; i < values.Count; i++)
        {
            hessians[values[i]] = accumulators[i].Hessian();
        }

        return hessians;
    }

    /// <summary>Folds batches into the accumulators until the calibration's sample count; returns the samples seen.</summary>
    private static int Accumulate(OnnxModel model, List<string> values, List<HessianAccumulator> accumulators, IDataSource data,
        CalibrationSpec calibration, PassContext context)
    {
        var samples = 0;
        foreach (var (batch, outputs) in ActivationCapture.Capture(model, values, data, calibration.BatchSize, Environment.ProcessorCount, context.Cancellation))
        {
            for (var i = 0; i < outputs.Count; i++)
            {
                var output = outputs[i];
                if (output.Shape.Length == 0 || output.Shape[^1] != accumulators[i].Size)
                {
                    throw new CompressionException(Diagnostic.Error(ErrorCodes.CalibrationDataMismatch,
                        $"The input '{values[i]}' of a MatMul came out as [{string.Join(", ", output.Shape)}] on the calibration data; its last dimension must be {accumulators[i].Size}."));
                }

                accumulators[i].Add(output.Values, TokenMask(batch, output.Shape));
            }

            samples += batch.Count;
            context.Log.Progress("GPTQ", $"calibration: {samples} samples", Math.Min(1, (double)samples / calibration.Samples));
            if (samples >= calibration.Samples)
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
