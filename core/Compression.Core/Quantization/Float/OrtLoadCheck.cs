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
        var (missing, _, error) = TryLoadNaming(model, optimized);
        return (missing, error);
    }

    /// <summary>
    /// As <see cref="TryLoad"/>, with the value ONNX Runtime names when it refuses a type ("Type 'tensor(bfloat16)' of
    /// input parameter (x) of operator (Where)"): the op it names may come from expanding a function, so the nodes
    /// reading that value are the ones to keep in float32.
    /// </summary>
    public static (string? MissingKernel, string? Value, string? Error) TryLoadNaming(OnnxModel model, bool optimized = true)
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
            return (null, null, null);
        }
        catch (OnnxRuntimeException exception)
        {
            var match = MissingKernel().Match(exception.Message);
            var opType = match.Groups[1].Success ? match.Groups[1].Value : match.Groups[2].Value;
            var value = RefusedValue().Match(exception.Message);
            return (match.Success ? opType : null, value.Success ? value.Groups[1].Value : null, exception.Message);
        }
    }

    [GeneratedRegex(@"of input parameter \(([^)]+)\) of operator")]
    private static partial Regex RefusedValue();

    /// <summary>A missing kernel, or a type the op's schema does not allow at this opset (ONNX Runtime checks those first).</summary>
    [GeneratedRegex(@"Could not find an implementation for (\w+)\(|of operator \((\w+)\)")]
    private static partial Regex MissingKernel();
}
