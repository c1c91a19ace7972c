namespace Compression.Core.Quantization.Calibration;

/// <summary>
/// Observes one tensor's values batch by batch (collect), then gives the float range to quantize it with
/// (compute). Memory is bounded by the calibrator, never by the number of batches.
/// </summary>
public interface ITensorCalibrator
{
    /// <summary>Adds one batch of the tensor's values.</summary>
    void Collect(ReadOnlySpan<float> values);

    /// <summary>The range [Min, Max] to quantize with; (0, 0) when nothing was collected.</summary>
    (float Min, float Max) ComputeRange();
}
