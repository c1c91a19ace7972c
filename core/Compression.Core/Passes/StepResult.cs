using System.Collections;
using System.Globalization;
using System.Reflection;

namespace Compression.Core.Passes;

/// <summary>
/// What one step did, as typed figures: each step has its own record deriving from this one, and every step reports
/// the layers it touched as <see cref="LayerRow"/>s. The JSON report, the PowerShell views and the tests read these.
/// </summary>
public abstract record StepResult
{
    /// <summary>One row per layer the step changed or left alone for a reason; empty for graph clean-ups.</summary>
    public IReadOnlyList<LayerRow> Layers { get; init; } = [];

    /// <summary>The step's scalar figures on one line (name: value), for logs and <c>Format-Table</c>.</summary>
    public sealed override string ToString()
    {
        var parts = new List<string>();
        foreach (var property in GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (property.Name == nameof(Layers) || property.GetIndexParameters().Length > 0 || property.GetValue(this) is not { } value)
            {
                continue;
            }

            var text = value switch
            {
                string s => s,
                double d => d.ToString("0.####", CultureInfo.InvariantCulture),
                IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
                ICollection c => $"{c.Count} item(s)",
                _ => value.ToString(),
            };
            parts.Add($"{property.Name}: {text}");
        }

        if (Layers.Count > 0)
        {
            parts.Add($"Layers: {Layers.Count}");
        }

        return string.Join(", ", parts);
    }
}

/// <summary>
/// One layer a step touched, in the same shape for every method: the node, its op, its weight and shape, what was done
/// to it, the relative error of its output on calibration data (null when the step measured none) and the bytes of
/// its weight before and after (null when the step does not know them).
/// </summary>
public sealed record LayerRow(string Node, string OpType, string Action)
{
    /// <summary>The weight initializer the row is about; null when the layer has none (an activation-only node).</summary>
    public string? Weight { get; init; }

    /// <summary>The weight's shape before the step.</summary>
    public IReadOnlyList<long> Shape { get; init; } = [];

    /// <summary>The weight's shape after the step, when the step changed it (structured pruning).</summary>
    public IReadOnlyList<long>? ShapeAfter { get; init; }

    /// <summary>The share of the weight that is zero after the step (pruning).</summary>
    public double? Sparsity { get; init; }

    /// <summary>Relative error of the layer's output on the calibration data: ||W'X - WX|| / ||WX||.</summary>
    public double? Error { get; init; }

    public long? BytesBefore { get; init; }

    public long? BytesAfter { get; init; }

    /// <summary>Factorization: the rank of the split ("96", or a Tucker-2 Conv's input x output ranks "64x128").</summary>
    public string? Rank { get; init; }

    /// <summary>Factorization: the layer's parameters before the step and after (its factors; biases aside).</summary>
    public long? ParametersBefore { get; init; }

    public long? ParametersAfter { get; init; }

    /// <summary>Factorization: the dense layer's time over its factors' on this machine (above 1: the factors are faster); null when not timed.</summary>
    public double? Speedup { get; init; }
}

/// <summary>What a step that found nothing to do, or has no figures, reports.</summary>
public sealed record NoFigures : StepResult;
