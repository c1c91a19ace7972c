namespace Compression.Core.Pruning;

/// <summary>
/// One row of the report's per-layer table (statistics key <c>layers</c>): the weight's shape before and after,
/// the fraction of its weights now zero or removed, the criterion that chose them, and the relative output
/// error of the layer on calibration data after reconstruction (null without calibration data).
/// </summary>
public sealed record PrunedLayer(
    string Node,
    string OpType,
    string Weight,
    IReadOnlyList<long> ShapeBefore,
    IReadOnlyList<long> ShapeAfter,
    double Sparsity,
    string Criterion,
    double? ReconstructionError);
