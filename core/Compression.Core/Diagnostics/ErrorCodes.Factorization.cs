namespace Compression.Core.Diagnostics;

public static partial class ErrorCodes
{
    // 3500-3549: low-rank factorization
    public const string FactorizeBudget = "CMP3501";
    public const string FactorizeOptionConflict = "CMP3502";
    public const string FactorizeCalibrationMissing = "CMP3503";
    public const string FactorizeLayerLeftDense = "CMP3504";
    public const string FactorizeWithoutData = "CMP3505";
    public const string NothingFactorized = "CMP3506";
    public const string FactorizeLayersUnmatched = "CMP3507";
    public const string FactorizeRefitMismatch = "CMP3508";
}
