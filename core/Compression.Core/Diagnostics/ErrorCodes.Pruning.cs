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

    // 3450-3499: structured pruning
}
