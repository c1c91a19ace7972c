using Compression.Core.Evaluation;
using Compression.Core.Onnx.Protobuf;
using Microsoft.ML.OnnxRuntime;

namespace Compression.Core.Tests.Support;

/// <summary>Runs a model file in ONNX Runtime (one thread) and returns a byte-exact fingerprint per output.</summary>
public static class OrtRunner
{
    public static IReadOnlyList<byte[]> Run(string modelPath, IReadOnlyList<(string Name, TensorProto Tensor)> inputs) =>
        Run(modelPath, inputs, OrtTensors.Fingerprint);

    /// <summary>Runs the model and reads each output with <paramref name="read"/> while the outputs are alive.</summary>
    public static IReadOnlyList<T> Run<T>(string modelPath, IReadOnlyList<(string Name, TensorProto Tensor)> inputs, Func<OrtValue, T> read)
    {
        using var options = new SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1, LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL };
        using var session = new InferenceSession(modelPath, options);
        var values = inputs.Select(i => OrtTensors.ToOrtValue(i.Tensor)).ToList();
        try
        {
            using var runOptions = new RunOptions();
            using var outputs = session.Run(runOptions, inputs.Select(i => i.Name).ToList(), values, session.OutputNames);
            return outputs.Select(read).ToList();
        }
        finally
        {
            foreach (var value in values)
            {
                value.Dispose();
            }
        }
    }
}
