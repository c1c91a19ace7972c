using Compression.Core.Passes;

namespace Compression.Core.Reports;

/// <summary>What one step did: its recipe name, its options, how long it took and its typed result (with per-layer rows).</summary>
public sealed record StepSummary(string Name, IReadOnlyDictionary<string, object?> Options, double Seconds, StepResult Result);
