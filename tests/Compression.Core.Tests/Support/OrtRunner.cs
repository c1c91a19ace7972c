using Compression.Core.Evaluation;
using Compression.Core.Onnx.Protobuf;
using Microsoft.ML.OnnxRuntime;

namespace Compression.Core.Tests.Support;

/// <summary>Runs a model file in ONNX Runtime (one thread) and returns a byte-exact fingerprint per output.</summary>
public static class OrtRunner
{
    public static IReadOnlyList<byte[]> Run(string modelPath, IReadOnlyList<(string Name, TensorProto Tensor)> inputs)
    {
        using var options = new SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1, LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL };
        using var session = new InferenceSession(modelPath, options);
        var values = inputs.Select(i => OrtTensors.ToOrtValue(i.Tensor)).ToList();
        try
        {
            using var runOptions = new RunOptions();
            var outputNames = session.OutputNames;
            using var outputs = session.Run(runOptions, inputs.Select(i => i.Name).ToList(), values, outputNames);
            return outputs.Select(OrtTensors.Fingerprint).ToList();
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
