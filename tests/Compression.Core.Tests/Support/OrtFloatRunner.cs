using Compression.Core.Onnx;
using Compression.Core.Onnx.Protobuf;

namespace Compression.Core.Tests.Support;

/// <summary>Runs a model in ONNX Runtime (one thread) and returns each float output's values, for comparisons with a tolerance.</summary>
public static class OrtFloatRunner
{
    public static IReadOnlyList<float[]> Run(string modelPath, IReadOnlyList<(string Name, TensorProto Tensor)> inputs) =>
        OrtRunner.Run(modelPath, inputs, o => o.GetTensorDataAsSpan<float>().ToArray());

    /// <summary>Runs an in-memory model by saving it to <paramref name="directory"/> first.</summary>
    public static IReadOnlyList<float[]> Run(OnnxModel model, string directory, IReadOnlyList<(string Name, TensorProto Tensor)> inputs)
    {
        var path = Path.Combine(directory, $"{Guid.NewGuid():N}.onnx");
        ModelWriter.Save(model, path);
        return Run(path, inputs);
    }
}
