namespace Compression.Core.Quantization.Static;

/// <summary>How an op takes part in static quantization.</summary>
internal enum OpRole
{
    /// <summary>Stays float (Softmax, LayerNormalization, anything unknown).</summary>
    Float,

    /// <summary>Arithmetic with a weight: Conv (weight axis 0), MatMul (B axis 1), Gemm (axis by transB); biases int32.</summary>
    Weighted,

    /// <summary>Element-wise or pooling arithmetic on activations with its own output range (Add, Mul, AveragePool, Concat, Sigmoid, LeakyRelu).</summary>
    Activation,

    /// <summary>Moves or selects values without changing them (MaxPool, Reshape, Transpose): the output keeps the input's scale.</summary>
    Propagating,

    /// <summary>A clamp at zero that a preceding quantized op absorbs when activations are asymmetric (Relu, Clip with min 0).</summary>
    Clamp,
}

/// <summary>The per-op-type table of the static quantizer (one entry per op type, a float default for the rest).</summary>
internal static class QuantizableOps
{
    private static readonly Dictionary<string, OpRole> Roles = new(StringComparer.Ordinal)
    {
        ["Conv"] = OpRole.Weighted,
        ["MatMul"] = OpRole.Weighted,
        ["Gemm"] = OpRole.Weighted,
        ["Add"] = OpRole.Activation,
        ["Mul"] = OpRole.Activation,
        ["AveragePool"] = OpRole.Activation,
        ["GlobalAveragePool"] = OpRole.Activation,
        ["Concat"] = OpRole.Activation,
        ["Sigmoid"] = OpRole.Activation,
        ["LeakyRelu"] = OpRole.Activation,
        ["MaxPool"] = OpRole.Propagating,
        ["Reshape"] = OpRole.Propagating,
        ["Transpose"] = OpRole.Propagating,
        ["Flatten"] = OpRole.Propagating,
        ["Squeeze"] = OpRole.Propagating,
        ["Unsqueeze"] = OpRole.Propagating,
        ["Relu"] = OpRole.Clamp,
        ["Clip"] = OpRole.Clamp,
    };

    public static OpRole Role(Onnx.Protobuf.NodeProto node) =>
        Onnx.OnnxModel.NormalizeDomain(node.Domain).Length == 0 && Roles.TryGetValue(node.OpType, out var role) ? role : OpRole.Float;
}
