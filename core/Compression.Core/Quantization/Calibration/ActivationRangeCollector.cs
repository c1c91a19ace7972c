using Compression.Core.Data;
using Compression.Core.Diagnostics;
using Compression.Core.Evaluation;
using Compression.Core.Onnx;

namespace Compression.Core.Quantization.Calibration;

/// <summary>
/// Runs the float model over the calibration data with <see cref="ActivationCapture"/> and feeds each chosen
/// tensor's values to its own calibrator, one batch at a time; only the calibrators' state outlives a batch.
/// Data problems surface as CMP3205 (does not fit the model) or CMP3206 (no samples). Static quantization also
/// records, in the same pass, what each Conv's kernel taps read (ConvTapMeans), for bias correction.
/// </summary>
public static class ActivationRangeCollector
{
    public static IReadOnlyDictionary<string, (float Min, float Max)> Collect(OnnxModel model, IReadOnlyList<string> tensors, IDataSource data,
        CalibrationSpec spec, QuantizedType activationType, ICompressionLog log, CancellationToken cancellation = default)
        => Collect(model, tensors, data, spec, activationType, null, log, cancellation);

    internal static IReadOnlyDictionary<string, (float Min, float Max)> Collect(OnnxModel model, IReadOnlyList<string> tensors, IDataSource data,
        CalibrationSpec spec, QuantizedType activationType, Static.ConvTapMeans? convTapMeans, ICompressionLog log, CancellationToken cancellation)
    {
        var calibrators = new ITensorCalibrator[tensors.Count];
        for (var i = 0; i < tensors.Count; i++)
        {
            calibrators[i] = Calibrators.Create(spec, activationType);
        }

        var seen = 0;
        try
        {
            foreach (var (batch, values) in ActivationCapture.Capture(model, tensors, data.FirstSamples(spec.Samples), spec.BatchSize, cancellation: cancellation))
            {
                // A model with a fixed batch dimension reads whole batches (SampleBudget): only the first samples count.
                var used = Math.Min(batch.Count, spec.Samples - seen);
                for (var i = 0; i < values.Count; i++)
                {
                    var value = values[i];
                    var all = value.Values;
                    calibrators[i].Collect(all.AsSpan(0, (int)((long)all.Length * used / batch.Count)));
                    convTapMeans?.Collect(tensors[i], value.Shape, used, all);
                }

                seen += used;
                log.Progress("Calibrating", $"{seen} of {spec.Samples} samples of {data.Name}", (double)seen / spec.Samples);
                if (seen >= spec.Samples)
                {
                    break;
                }
            }
        }
        catch (CompressionException e) when (e.Code is ErrorCodes.DataShapeMismatch or ErrorCodes.DataInputNameMismatch
            or ErrorCodes.DataTypeUnsupported or ErrorCodes.RuntimeFailed)
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.CalibrationDataMismatch,
                $"The calibration data '{data.Name}' does not fit the model: {e.Diagnostic.Message}", model.Path), e);
        }
        catch (CompressionException e) when (e.Code == ErrorCodes.DataSetEmpty)
        {
            throw Empty(data, model, e);
        }

        if (seen == 0)
        {
            throw Empty(data, model, null);
        }

        // Histogram searches are O(bins^2) for entropy: tensors are independent, so use every core.
        var computed = new (float, float)[tensors.Count];
        Parallel.For(0, tensors.Count, new ParallelOptions { CancellationToken = cancellation }, i => computed[i] = calibrators[i].ComputeRange());
        var ranges = new Dictionary<string, (float, float)>(StringComparer.Ordinal);
        for (var i = 0; i < tensors.Count; i++)
        {
            ranges[tensors[i]] = computed[i];
        }

        return ranges;
    }

    private static CompressionException Empty(IDataSource data, OnnxModel model, Exception? inner) =>
        new(Diagnostic.Error(ErrorCodes.CalibrationDataEmpty, $"The calibration data set '{data.Name}' gave no samples.", model.Path), inner);
}
