using System.Globalization;
using Compression.Core.Diagnostics;

namespace Compression.Core.Pruning.Sparsity;

/// <summary>Semi-structured sparsity: <see cref="Kept"/> weights of every <see cref="Group"/> consecutive ones along K survive.</summary>
internal sealed record NmPattern(int Kept, int Group)
{
    private const int LargestGroup = 32;

    public double Sparsity => 1 - (double)Kept / Group;

    public override string ToString() => $"{Kept}:{Group}";

    /// <summary>Reads 'N:M' with 0 &lt; N &lt; M &lt;= 32; anything else is CMP3402 quoting the value.</summary>
    public static NmPattern Parse(string? text) =>
        TryParse(text) ?? throw new CompressionException(Diagnostic.Error(ErrorCodes.PrunePattern, InvalidMessage(text)));

    /// <summary>The pattern, or null when the text is not 'N:M' with 0 &lt; N &lt; M &lt;= 32.</summary>
    public static NmPattern? TryParse(string? text)
    {
        var parts = (text ?? "").Split(':');
        return parts.Length == 2
            && int.TryParse(parts[0].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var kept)
            && int.TryParse(parts[1].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var group)
            && kept > 0 && kept < group && group <= LargestGroup
            ? new NmPattern(kept, group)
            : null;
    }

    public static string InvalidMessage(string? text) =>
        $"The N:M pattern '{text}' is not valid: write N:M with 0 < N < M <= {LargestGroup}, N weights kept of every M (e.g. 2:4 or 4:8).";
}
