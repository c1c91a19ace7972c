using Compression.Core.Diagnostics;
using Compression.Core.Evaluation;
using Compression.Core.Onnx.Inspection;
using Compression.Core.Reports;

namespace Compression.Core.Pipeline;

/// <summary>The result of a compression run: what the cmdlets return and the task logs.</summary>
public sealed class CompressionResult
{
    public required string InputPath { get; init; }

    /// <summary>Where the model was written; null when it was not (a failed gate, or -WhatIf).</summary>
    public string? OutputPath { get; init; }

    public required long InputSizeBytes { get; init; }

    public required long OutputSizeBytes { get; init; }

    /// <summary>Output size over input size.</summary>
    public double SizeRatio => InputSizeBytes == 0 ? 1 : (double)OutputSizeBytes / InputSizeBytes;

    /// <summary>Multiply-accumulates per sample of the input model's linear layers (<see cref="MacCounter"/>).</summary>
    public required MacCount InputMacs { get; init; }

    public required MacCount OutputMacs { get; init; }

    /// <summary>Output MACs over input MACs; null when a linear layer's shape is unknown in either model.</summary>
    public double? MacsRatio => MacCount.Ratio(InputMacs, OutputMacs);

    public required IReadOnlyList<StepSummary> Steps { get; init; }

    /// <summary>The evaluation of the original and the result on the recipe's data; null without an evaluate section.</summary>
    public EvaluationReport? Evaluation { get; init; }

    public required IReadOnlyList<GateVerdict> Gates { get; init; }

    public bool Passed => Gates.All(g => g.Passed);

    /// <summary>The JSON report beside the output (written even when a gate fails).</summary>
    public string? ReportPath { get; init; }

    public required TimeSpan Duration { get; init; }

    /// <summary>Errors (failed gates) and warnings for the host to show.</summary>
    public required IReadOnlyList<Diagnostic> Diagnostics { get; init; }

    /// <summary>
    /// One line: what was done and what it cost, e.g. "quantize (dynamic): 86.7 MB -> 22.1 MB (25.4 %); Spearman 83.56 -> 83.43
    /// (-0.13) on stsb-sample (48 pairs); gates: 2 passed".
    /// </summary>
    public string Summary => ResultSummary.Line(this);
}
