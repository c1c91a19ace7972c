using System.Text.RegularExpressions;
using Compression.Core.Onnx;
using Microsoft.ML.OnnxRuntime;

namespace Compression.Core.Quantization.Float;

/// <summary>Loads a model in ONNX Runtime's CPU provider to learn whether every node found a kernel.</summary>
internal static partial class OrtLoadCheck
{
    /// <summary>
    /// Null when the model loads; otherwise the op type without a kernel, or the whole error when none is named.
    /// Without <paramref name="optimized"/> the graph is loaded as written, so a missing kernel names one of its own
    /// nodes, not one ONNX Runtime's fusions made.
    /// </summary>
    public static (string? MissingKernel, string? Error) TryLoad(OnnxModel model, bool optimized = true)
    {
        using var stream = new MemoryStream();
        ModelWriter.Save(model, stream);
        try
        {
            using var options = new SessionOptions
            {
                LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL,
                IntraOpNumThreads = 1,
                GraphOptimizationLevel = optimized ? GraphOptimizationLevel.ORT_ENABLE_ALL : GraphOptimizationLevel.ORT_DISABLE_ALL,
            };
            using var session = new InferenceSession(stream.ToArray(), options);
            return (null, null);
        }
        catch (OnnxRuntimeException exception)
        {
            var match = MissingKernel().Match(exception.Message);
            var opType = match.Groups[1].Success ? match.Groups[1].Value : match.Groups[2].Value;
            return (match.Success ? opType : null, exception.Message);
        }
    }

    /// <summary>A missing kernel, or a type the op's schema does not allow at this opset (ONNX Runtime checks those first).</summary>
    [GeneratedRegex(@"Could not find an implementation for (\w+)\(|of operator \((\w+)\)")]
    private static partial Regex MissingKernel();
}
