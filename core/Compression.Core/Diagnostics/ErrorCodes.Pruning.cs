namespace Compression.Core.Diagnostics;

public static partial class ErrorCodes
{
    // 3400-3449: pruning in general, unstructured and N:M
    // 3450-3499: structured pruning
    public const string PruneRemovesEveryUnit = "CMP3450";
    public const string PruneTooManyHeads = "CMP3451";
    public const string PruneCalibrationMissing = "CMP3452";
    public const string PruneCalibrationMismatch = "CMP3453";
    public const string PruneCalibrationEmpty = "CMP3454";
    public const string PruneNoSafeGroup = "CMP3455";
    public const string PruneReconstructionSkipped = "CMP3456";
    public const string PruneGlobalScopeIgnored = "CMP3457";
}
