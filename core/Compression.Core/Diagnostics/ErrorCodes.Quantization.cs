namespace Compression.Core.Diagnostics;

public static partial class ErrorCodes
{
    // 32xx: quantization
    public const string AlreadyQuantized = "CMP3201";
    public const string QuantizationBits = "CMP3202";
    public const string QuantizationBlockSize = "CMP3203";
    public const string CalibrationDataMissing = "CMP3204";
    public const string CalibrationDataMismatch = "CMP3205";
    public const string CalibrationDataEmpty = "CMP3206";
    public const string NothingQuantized = "CMP3207";
    public const string QuantizationFallback = "CMP3208";
    public const string NodeLeftInFloat = "CMP3209";
    public const string StaticFormatNotUsed = "CMP3210";
    public const string FallbackMetricNotApplicable = "CMP3211";
}
