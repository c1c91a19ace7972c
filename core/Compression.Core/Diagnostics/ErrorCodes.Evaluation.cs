namespace Compression.Core.Diagnostics;

public static partial class ErrorCodes
{
    // 30xx: running models and evaluating them
    public const string RuntimeRejectedModel = "CMP3002";
    public const string RuntimeFailed = "CMP3003";
    public const string MetricNotApplicable = "CMP3004";
    public const string PoorFidelity = "CMP3005";

    // 40xx: gates
    public const string GateFailed = "CMP4001";
}
