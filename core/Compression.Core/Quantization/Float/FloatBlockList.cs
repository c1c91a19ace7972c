namespace Compression.Core.Quantization.Float;

/// <summary>
/// Op types that stay float32 in a float16/bfloat16 model, and inputs that are float32 whatever the model's type.
/// ONNX Runtime's CPU provider has 16-bit kernels for few ops and wraps the rest in Casts at load; the ops here are
/// those where that is not enough: no kernel at all, integer/float mixes (Range, CumSum), selection ops whose
/// ties change under rounding (TopK, NonMaxSuppression, Min, Max), resampling (Resize, Upsample: scales are
/// float32 by definition), BatchNormalization (running variances near 1e-5 are subnormal in float16: PaddleOCR's
/// detector fell to cosine 0.86 with it converted, 1.0000 without; fold it into the Conv first where possible),
/// and random generators. Ops found missing a kernel when the converted model is loaded
/// are added to these at run time (<see cref="OrtLoadCheck"/>).
/// </summary>
internal static class FloatBlockList
{
    public static IReadOnlySet<string> Default { get; } = new HashSet<string>(StringComparer.Ordinal)
    {
        "BatchNormalization", "Range", "CumSum", "Resize", "Upsample", "TopK", "NonMaxSuppression", "RoiAlign", "Min", "Max",
        "RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Multinomial", "Bernoulli", "EyeLike",
        "If", "Loop", "Scan",
    };

    /// <summary>Standard ops defined as functions, which ONNX Runtime expands into their body when it has no kernel for them.</summary>
    public static IReadOnlyList<string> FunctionOps { get; } =
    [
        "Softmax", "LogSoftmax", "LayerNormalization", "Gelu", "HardSwish", "Mish", "Celu", "MeanVarianceNormalization",
        "GroupNormalization", "Shrink", "ThresholdedRelu", "Softsign", "Softplus", "Selu", "Elu", "HardSigmoid",
    ];

    /// <summary>Inputs (by position) that ONNX types as float32 (or independently of the data type) even in a 16-bit model.</summary>
    public static bool IsFixedFloatInput(string opType, int index) => (opType, index) switch
    {
        ("Resize", 1 or 2) => true,
        ("Upsample", 1) => true,
        _ => false,
    };
}
