using Compression.Core.Onnx;
using Compression.Core.Tests.Support;

namespace Compression.Core.Tests.Quantization;

/// <summary>
/// How close a converted model's outputs stay to the original's on synthetic inputs. Where the last dimension is
/// a class or character axis (declared and wider than 1), it is the top-1 agreement along it over every position
/// and input; where it is spatial (a detector's map) agreement means nothing, so it is the cosine of the values.
/// </summary>
internal static class OutputFidelity
{
    public sealed record Result(string Output, string Metric, double Value);

    public static List<Result> Compare(OnnxModel reference, OnnxModel candidate, string temp, int inputs)
    {
        var referencePath = Path.Combine(temp, $"{Guid.NewGuid():N}.onnx");
        var candidatePath = Path.Combine(temp, $"{Guid.NewGuid():N}.onnx");
        ModelWriter.Save(reference, referencePath);
        ModelWriter.Save(candidate, candidatePath);
        var outputs = reference.Proto.Graph.Output;
        var agreed = new long[outputs.Count];
        var compared = new long[outputs.Count];
        var dot = new double[outputs.Count];
        var referenceNorm = new double[outputs.Count];
        var candidateNorm = new double[outputs.Count];
        for (var seed = 0; seed < inputs; seed++)
        {
            var values = SyntheticInputs.For(reference, seed);
            var expected = OrtFloatRunner.Run(referencePath, values);
            var actual = OrtFloatRunner.Run(candidatePath, values);
            for (var o = 0; o < outputs.Count; o++)
            {
                var classes = (int)ClassCount(reference, o);
                for (var i = 0; i < expected[o].Length; i++)
                {
                    dot[o] += (double)expected[o][i] * actual[o][i];
                    referenceNorm[o] += (double)expected[o][i] * expected[o][i];
                    candidateNorm[o] += (double)actual[o][i] * actual[o][i];
                }

                for (var start = 0; classes > 1 && start + classes <= expected[o].Length; start += classes)
                {
                    compared[o]++;
                    agreed[o] += ArgMax(expected[o].AsSpan(start, classes)) == ArgMax(actual[o].AsSpan(start, classes)) ? 1 : 0;
                }
            }
        }

        return outputs.Select((output, o) => ClassCount(reference, o) > 1
            ? new Result(output.Name, "top-1 agreement", (double)agreed[o] / compared[o])
            : new Result(output.Name, "cosine", dot[o] / Math.Sqrt(referenceNorm[o] * candidateNorm[o]))).ToList();
    }

    /// <summary>The declared last dimension when the output is a vector per position (rank 2 or 3), else 0.</summary>
    private static long ClassCount(OnnxModel model, int output)
    {
        var dims = model.Proto.Graph.Output[output].Type?.TensorType?.Shape?.Dim;
        return dims is { Count: 2 or 3 } && dims[^1].DimValue > 1 ? dims[^1].DimValue : 0;
    }

    private static int ArgMax(ReadOnlySpan<float> values)
    {
        var best = 0;
        for (var i = 1; i < values.Length; i++)
        {
            if (values[i] > values[best])
            {
                best = i;
            }
        }

        return best;
    }
}
