namespace Compression.Core.Diagnostics;

public static partial class ErrorCodes
{
    // 3400-3449: pruning in general, unstructured and N:M
    public const string PruneSparsity = "CMP3401";
    public const string PrunePattern = "CMP3402";
    public const string PruneCriterion = "CMP3403";
    public const string PruneCalibrationMissing = "CMP3404";
    public const string PruneOptionConflict = "CMP3405";
    public const string NothingPruned = "CMP3406";
    public const string LayerLeftDense = "CMP3407";
    public const string PruneScheduleNeedsEvaluation = "CMP3408";
    public const string PruneScheduleNoStep = "CMP3409";
    public const string PruneLayersUnmatched = "CMP3410";
    public const string QuantizedModelRefused = "CMP3411";
    public const string PruneLayersPinned = "CMP3412";

    // 3450-3499: structured pruning
    public const string PruneRemovesEveryUnit = "CMP3450";
    public const string PruneTooManyHeads = "CMP3451";
    public const string PruneCalibrationMismatch = "CMP3453";
    public const string PruneCalibrationEmpty = "CMP3454";
    public const string PruneNoSafeGroup = "CMP3455";
    public const string PruneReconstructionSkipped = "CMP3456";
    public const string PruneGlobalScopeIgnored = "CMP3457";
    public const string PruneOpNotSupported = "CMP3480";
}
