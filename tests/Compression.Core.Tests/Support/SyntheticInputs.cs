using Compression.Core.Onnx;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;

namespace Compression.Core.Tests.Support;

/// <summary>Deterministic inputs drawn to a model's declared input types and shapes.</summary>
public static class SyntheticInputs
{
    public static IReadOnlyList<(string Name, TensorProto Tensor)> For(OnnxModel model, int seed = 7)
    {
        var random = new Random(seed);
        var graph = model.Proto.Graph;
        var initializers = graph.Initializer.Select(t => t.Name).ToHashSet();
        var inputs = new List<(string, TensorProto)>();
        foreach (var input in graph.Input.Where(i => !initializers.Contains(i.Name)))
        {
            var tensorType = input.Type.TensorType;
            // Symbolic dims: batch 1, anything else 64 (a multiple of the strides image models need).
            var dims = tensorType.Shape.Dim.Select((d, i) => d.HasDimValue && d.DimValue > 0 ? d.DimValue : i == 0 ? 1 : 64).ToArray();
            var count = (int)TensorCodec.ElementCount(dims);
            var type = (ElementType)tensorType.ElemType;
            if (type == ElementType.Int64 || type == ElementType.Int32)
            {
                // Small ids are valid for every embedding table (token types have only two rows).
                var values = Enumerable.Range(0, count).Select(_ => (float)random.Next(2)).ToArray();
                inputs.Add((input.Name, TensorCodec.FromSingle(input.Name, dims, values, type)));
            }
            else
            {
                var values = Enumerable.Range(0, count).Select(_ => (float)random.NextDouble()).ToArray();
                inputs.Add((input.Name, TensorCodec.FromSingle(input.Name, dims, values, type)));
            }
        }

        return inputs;
    }
}
