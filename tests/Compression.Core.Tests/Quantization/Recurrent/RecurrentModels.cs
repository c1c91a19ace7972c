using Compression.Core.Onnx;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Tests.Quantization.WeightOnly;
using static Compression.Core.Tests.Passes.GraphBuilder;

namespace Compression.Core.Tests.Quantization.Recurrent;

/// <summary>
/// Small sequence classifiers built like PyTorch's batch-first exports: x [N, T, I] transposed to [T, N, I], one LSTM,
/// GRU or RNN (layout 0), its last hidden state flattened into a MatMul head. Y, the op's full output, is a model output
/// too, so the tests compare the recurrent op itself and not only the head.
/// </summary>
internal static class RecurrentModels
{
    public const int Steps = 7;
    public const int InputSize = 12;
    public const int Hidden = 16;
    public const int Classes = 5;
    public const int Batch = 3;

    private static readonly Dictionary<string, int> Gates = new(StringComparer.Ordinal) { ["LSTM"] = 4, ["GRU"] = 3, ["RNN"] = 1 };

    /// <summary>The classifier; <paramref name="computedW"/> makes W a model input (a weight computed at run time).</summary>
    public static OnnxModel Classifier(string op, bool bidirectional, long opset = 14, bool computedW = false, long layout = 0, int seed = 5)
    {
        var random = new Random(seed);
        var directions = bidirectional ? 2 : 1;
        var rows = Gates[op] * Hidden;
        var recurrent = Node(op, ["x_steps", "W", "R", "B"], ["y", "y_h"], $"{op.ToLowerInvariant()}_1");
        recurrent.Attribute.Add(Int("hidden_size", Hidden));
        recurrent.Attribute.Add(new AttributeProto { Name = "direction", Type = AttributeProto.Types.AttributeType.String, S = Google.Protobuf.ByteString.CopyFromUtf8(bidirectional ? "bidirectional" : "forward") });
        if (op == "GRU")
        {
            // PyTorch's GRU applies the reset gate after the recurrent product.
            recurrent.Attribute.Add(Int("linear_before_reset", 1));
        }

        if (layout != 0)
        {
            recurrent.Attribute.Add(Int("layout", layout));
        }

        var toSteps = Node("Transpose", ["x"], ["x_steps"], "to_steps");
        toSteps.Attribute.Add(Ints("perm", 1, 0, 2));
        var toBatch = Node("Transpose", ["y_h"], ["h_batch"], "to_batch");
        toBatch.Attribute.Add(Ints("perm", 1, 0, 2));
        var nodes = new[]
        {
            toSteps,
            recurrent,
            toBatch,
            Node("Reshape", ["h_batch", "flat_shape"], ["h_flat"], "flatten"),
            Node("MatMul", ["h_flat", "head"], ["logits"], "head"),
        };
        var w = Scaled(WeightOnlyModels.Tensor("W", random, directions, rows, InputSize), 0.3f);
        var initializers = new List<TensorProto>
        {
            Scaled(WeightOnlyModels.Tensor("R", random, directions, rows, Hidden), 0.15f),
            Scaled(WeightOnlyModels.Tensor("B", random, directions, 2 * rows), 0.1f),
            TensorCodec.FromInt64("flat_shape", [2], [0, -1]),
            Scaled(WeightOnlyModels.Tensor("head", random, directions * Hidden, Classes), 0.5f),
        };
        var inputs = new List<ValueInfoProto> { Batched("x", InputSize, Steps) };
        if (computedW)
        {
            inputs.Add(Value("W", ElementType.Float, directions, rows, InputSize));
        }
        else
        {
            initializers.Add(w);
        }

        return Model(nodes, inputs, [Unshaped("logits"), Unshaped("y")], initializers, opset);
    }

    /// <summary>Inputs in [0, 1) like image rows, for <see cref="Batch"/> sequences.</summary>
    public static (string Name, TensorProto Tensor)[] Inputs(int seed = 9)
    {
        var random = new Random(seed);
        var values = new float[Batch * Steps * InputSize];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = random.NextSingle();
        }

        return [("x", TensorCodec.FromSingle("x", [Batch, Steps, InputSize], values, ElementType.Float))];
    }

    /// <summary>x [N, T, I] with a free batch dim, so calibration data can be drawn for it.</summary>
    private static ValueInfoProto Batched(string name, int size, int steps)
    {
        var value = Value(name, ElementType.Float, 1, steps, size);
        value.Type.TensorType.Shape.Dim[0] = new TensorShapeProto.Types.Dimension { DimParam = "N" };
        return value;
    }

    private static ValueInfoProto Unshaped(string name) =>
        new() { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)ElementType.Float } } };

    private static TensorProto Scaled(TensorProto tensor, float factor)
    {
        var values = TensorCodec.ToSingle(tensor);
        for (var i = 0; i < values.Length; i++)
        {
            values[i] *= factor;
        }

        return TensorCodec.FromSingle(tensor.Name, tensor.Dims.ToArray(), values, ElementType.Float);
    }
}
