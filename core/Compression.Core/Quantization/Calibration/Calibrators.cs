namespace Compression.Core.Quantization.Calibration;

/// <summary>Makes the calibrator a <see cref="CalibrationSpec"/> asks for, one per tensor.</summary>
public static class Calibrators
{
    public static ITensorCalibrator Create(CalibrationSpec spec, QuantizedType type)
    {
        var (qmin, qmax) = QuantMath.Range(type);
        var span = qmax - qmin;
        return spec.Method switch
        {
            CalibrationMethod.MinMax => new MinMaxCalibrator(spec.MovingAverage),
            CalibrationMethod.Percentile => new PercentileCalibrator(spec.Percentile, spec.Bins, span),
            CalibrationMethod.Entropy => new EntropyCalibrator(spec.Bins, span),
            _ => new MseCalibrator(spec.Bins, span),
        };
    }
}
