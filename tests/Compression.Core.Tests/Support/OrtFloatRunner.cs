using Compression.Core.Evaluation;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Protobuf;
using Microsoft.ML.OnnxRuntime;

namespace Compression.Core.Tests.Support;

/// <summary>Runs a model in ONNX Runtime (one thread) and returns each float output's values, for comparisons with a tolerance.</summary>
public static class OrtFloatRunner
{
    public static IReadOnlyList<float[]> Run(string modelPath, IReadOnlyList<(string Name, TensorProto Tensor)> inputs)
    {
        using var options = new SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1, LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL };
        using var session = new InferenceSession(modelPath, options);
        var values = inputs.Select(i => OrtTensors.ToOrtValue(i.Tensor)).ToList();
        try
        {
            using var runOptions = new RunOptions();
            using var outputs = session.Run(runOptions, inputs.Select(i => i.Name).ToList(), values, session.OutputNames);
            return outputs.Select(o => o.GetTensorDataAsSpan<float>().ToArray()).ToList();
        }
        finally
        {
            foreach (var value in values)
            {
                value.Dispose();
            }
        }
    }

    /// <summary>Runs an in-memory model by saving it to <paramref name="directory"/> first.</summary>
    public static IReadOnlyList<float[]> Run(OnnxModel model, string directory, IReadOnlyList<(string Name, TensorProto Tensor)> inputs)
    {
        var path = Path.Combine(directory, $"{Guid.NewGuid():N}.onnx");
        ModelWriter.Save(model, path);
        return Run(path, inputs);
    }
}
