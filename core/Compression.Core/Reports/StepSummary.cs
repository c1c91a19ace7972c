namespace Compression.Core.Reports;

/// <summary>What one step did.</summary>
public sealed record StepSummary(string Name, IReadOnlyDictionary<string, object?> Options, double Seconds, IReadOnlyDictionary<string, object> Statistics);
