namespace Compression.Core.Diagnostics;

public static partial class ErrorCodes
{
    // 3400-3449: pruning in general, unstructured and N:M
    // 3450-3499: structured pruning
}
