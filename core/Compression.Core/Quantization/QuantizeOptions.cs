using Compression.Core.Diagnostics;
using Compression.Core.Options;
using Compression.Core.Passes;

namespace Compression.Core.Quantization;

/// <summary>What is quantized and how.</summary>
public enum QuantizationMode
{
    /// <summary>Weights int8 offline, activations quantized at run time; no calibration data needed.</summary>
    Dynamic,

    /// <summary>Weights and activations int8, activation ranges calibrated on data.</summary>
    Static,

    /// <summary>Weights only, 4 or 8 bits block-wise (MatMulNBits, GatherBlockQuantized, DequantizeLinear before a Conv); activations stay float.</summary>
    WeightOnly,

    /// <summary>Float16 weights and arithmetic (or storage only).</summary>
    Float16,

    /// <summary>BFloat16 weights and arithmetic (or storage only).</summary>
    [RecipeName("bfloat16")]
    BFloat16,
}

/// <summary>How quantized static models are written.</summary>
public enum QuantizationFormat
{
    /// <summary>Measure the candidates on this machine and keep the fastest that meets the fidelity target.</summary>
    Auto,

    /// <summary>QuantizeLinear/DequantizeLinear pairs around float ops.</summary>
    Qdq,

    /// <summary>Integer operators (QLinearConv, QLinearMatMul, ...).</summary>
    [RecipeName("qoperator")]
    QOperator,
}

/// <summary>Integer types of quantized tensors.</summary>
public enum QuantizedType
{
    U8,
    S8,
    U16,
    S16,
}

/// <summary>How activation ranges are found from calibration data.</summary>
public enum CalibrationMethod
{
    /// <summary>The observed minimum and maximum.</summary>
    MinMax,

    /// <summary>A percentile of the absolute values (clips outliers).</summary>
    Percentile,

    /// <summary>The range minimizing the KL divergence between float and quantized histograms.</summary>
    Entropy,

    /// <summary>The clip range minimizing the mean squared quantization error.</summary>
    Mse,
}

/// <summary>How weights are rounded (weight-only and static modes).</summary>
public enum WeightOnlyAlgorithm
{
    /// <summary>Round to nearest.</summary>
    Rtn,

    /// <summary>GPTQ: column-by-column quantization with Hessian-based error compensation from calibration data.</summary>
    Gptq,

    /// <summary>GPTQ in weight-only mode when calibration data is given, round to nearest otherwise.</summary>
    Auto,
}

/// <summary>The options of the <c>quantize</c> step (and of <c>Invoke-ModelQuantize</c>).</summary>
public sealed record QuantizeOptions : PassOptions, ICheckedOptions
{
    /// <summary>
    /// The combinations that cannot run, checked when a recipe is read and again before quantizing: static mode and
    /// fallback need calibration data, GPTQ in weight-only mode too; weight-only bits and block sizes (the step's,
    /// output_layer_bits and each layers entry's) must be a layout MatMulNBits takes.
    /// </summary>
    public IEnumerable<OptionProblem> Problems()
    {
        if (Mode == QuantizationMode.Static && Calibration is null)
        {
            yield return new(ErrorCodes.CalibrationDataMissing, "Static quantization needs calibration data: add calibration: { data: <name> }.", "mode");
        }

        if (Fallback is not null && Calibration is null && Mode is QuantizationMode.Dynamic or QuantizationMode.WeightOnly)
        {
            yield return new(ErrorCodes.CalibrationDataMissing, "The fallback measures each layer on calibration data: add calibration: { data: <name> }.", "fallback");
        }

        if (Mode != QuantizationMode.WeightOnly)
        {
            yield break;
        }

        if (Algorithm == WeightOnlyAlgorithm.Gptq && Calibration is null)
        {
            yield return new(ErrorCodes.CalibrationDataMissing, "GPTQ needs calibration data: set calibration.data to a data set of the recipe.", "algorithm");
        }

        var layouts = new List<(int Bits, int BlockSize, string Where, string Option)> { (Bits, BlockSize, "", "bits"), (OutputLayerBits, BlockSize, " (output_layer_bits)", "output_layer_bits") };
        layouts.AddRange(Layers.Select(l => (l.Value?.Bits ?? Bits, l.Value?.BlockSize ?? BlockSize, $" (layers '{l.Key}')", "layers")));
        foreach (var (bits, blockSize, where, option) in layouts)
        {
            if (bits is not (4 or 8))
            {
                yield return new(ErrorCodes.QuantizationBits, $"Weight-only quantization takes 4 or 8 bits; got {bits}{where}.", option);
            }

            // output_layer_bits takes the step's block size, reported once with the step's bits.
            if (option != "output_layer_bits" && (blockSize is < 16 or > 256 || (blockSize & (blockSize - 1)) != 0))
            {
                yield return new(ErrorCodes.QuantizationBlockSize, $"The weight-only block size must be a power of two from 16 to 256; got {blockSize}{where}.",
                    option == "bits" ? "block_size" : option);
            }
        }
    }

    [Option("What to quantize: dynamic (int8, no data needed), static (int8 with calibration), weight_only (4/8-bit blocks), float16, bfloat16.")]
    public QuantizationMode Mode { get; init; } = QuantizationMode.Dynamic;

    [Option("Static mode: qdq, qoperator, or auto (measure both here and keep qoperator, the smaller file, unless qdq is more than 15 % faster; each must keep cosine >= 0.99 to float; when the kept one runs slower than float32 here, the smallest layers, up to half of the weights, are kept float if that makes it faster, with a warning naming them).")]
    [ReadWhen(nameof(Mode), QuantizationMode.Static)]
    public QuantizationFormat Format { get; init; } = QuantizationFormat.Auto;

    [Option("One scale per output channel of each weight instead of one per tensor.")]
    public bool PerChannel { get; init; } = true;

    [Option("Symmetric ranges (zero point 0) for weights.")]
    public bool Symmetric { get; init; } = true;

    [Option("Integer type of activations (static): u8, s8, or u16/s16 for 16-bit QDQ.")]
    [ReadWhen(nameof(Mode), QuantizationMode.Static)]
    public QuantizedType ActivationType { get; init; } = QuantizedType.U8;

    [Option("Integer type of weights: s8 or u8.")]
    public QuantizedType WeightType { get; init; } = QuantizedType.S8;

    [Option("7-bit weights, for AVX2 CPUs without VNNI where 8-bit products can saturate.")]
    public bool ReduceRange { get; init; }

    [Option("Weight-only bits: 4 or 8.", Minimum = 4, Maximum = 8, Values = new double[] { 4, 8 })]
    [ReadWhen(nameof(Mode), QuantizationMode.WeightOnly)]
    public int Bits { get; init; } = 4;

    [Option("Weight-only: bits of a MatMul or Gemm whose result is a model output (through a bias, Softmax, Sigmoid, Tanh or layout ops): a classifier's logits, a recognizer's per-step scores, a language model's head, where top-1 decisions are made. 8 keeps it at 8 bits when the rest is 4; a layers entry that matches it wins.", Minimum = 4, Maximum = 8, Values = new double[] { 4, 8 })]
    [ReadWhen(nameof(Mode), QuantizationMode.WeightOnly)]
    public int OutputLayerBits { get; init; } = 8;

    [Option("Weight-only block size along the reduction dimension: a power of two from 16 to 256.", Minimum = 16, Maximum = 256, Values = new double[] { 16, 32, 64, 128, 256 })]
    [ReadWhen(nameof(Mode), QuantizationMode.WeightOnly)]
    public int BlockSize { get; init; } = 64;

    [NodePatterns]
    [Option("Weight-only: bits and block size for some layers, by node name (wildcards * and ?) or op type; the first matching entry wins, unmatched layers take bits and block_size.")]
    [ReadWhen(nameof(Mode), QuantizationMode.WeightOnly)]
    public IReadOnlyDictionary<string, LayerQuantizeSpec> Layers { get; init; } = new Dictionary<string, LayerQuantizeSpec>();

    [Option("Weight-only and static rounding of weights: auto (gptq in weight-only mode when calibration data is given, rtn otherwise), rtn (round to nearest) or gptq (rounding errors compensated through the calibration data's Hessians; weight-only needs calibration data; static: Conv, MatMul and Gemm weights, slower: opt in).")]
    [ReadWhen(nameof(Mode), QuantizationMode.WeightOnly, QuantizationMode.Static)]
    public WeightOnlyAlgorithm Algorithm { get; init; } = WeightOnlyAlgorithm.Auto;

    /// <summary>
    /// These options with <see cref="WeightOnlyAlgorithm.Auto"/> made concrete for the mode that rounds: weight-only
    /// rounds with GPTQ when calibration data is given (PaddleOCR's recognizer at 4 bits: 99.1 % agreement against 95.8 %
    /// rounding to nearest); static rounds to nearest, since its GPTQ costs minutes where rounding takes seconds and gains
    /// little where the activations dominate.
    /// </summary>
    internal QuantizeOptions WithConcreteAlgorithm(QuantizationMode mode) => Algorithm == WeightOnlyAlgorithm.Auto
        ? this with { Algorithm = mode == QuantizationMode.WeightOnly && Calibration is not null ? WeightOnlyAlgorithm.Gptq : WeightOnlyAlgorithm.Rtn }
        : this;

    [Option("Also quantize embedding tables (Gather on a weight): int8 in dynamic mode, GatherBlockQuantized in weight-only mode.")]
    [ReadWhen(nameof(Mode), QuantizationMode.Dynamic, QuantizationMode.WeightOnly)]
    public bool QuantizeEmbeddings { get; init; } = true;

    [Option("Calibration for static mode, GPTQ and fallback: the data set, the method and its settings.")]
    [ReadWhen(nameof(Mode), QuantizationMode.Static, QuantizationMode.WeightOnly, QuantizationMode.Dynamic)]
    public CalibrationSpec? Calibration { get; init; }

    [NodePatterns]
    [Option("Nodes left in float: names (wildcards * and ?) or op types (e.g. Softmax).")]
    public IReadOnlyList<string> Exclude { get; init; } = [];

    [Option("Static, dynamic and weight-only: keep the most sensitive layers in float until the target holds; each layer is measured quantized alone on the calibration data.")]
    [ReadWhen(nameof(Mode), QuantizationMode.Static, QuantizationMode.WeightOnly, QuantizationMode.Dynamic)]
    public FallbackSpec? Fallback { get; init; }

    [Option("Float16/bfloat16: keep the model's inputs and outputs float32 (Casts at the edges).")]
    [ReadWhen(nameof(Mode), QuantizationMode.Float16, QuantizationMode.BFloat16)]
    public bool KeepIoTypes { get; init; } = true;

    [Option("Float16/bfloat16: op types that stay float32 (added to those without CPU kernels or numerically fragile).")]
    [ReadWhen(nameof(Mode), QuantizationMode.Float16, QuantizationMode.BFloat16)]
    public IReadOnlyList<string> OpBlockList { get; init; } = [];

    [Option("Float16/bfloat16: store weights in 16 bits but compute in float32 (half the file, float32 speed).")]
    [ReadWhen(nameof(Mode), QuantizationMode.Float16, QuantizationMode.BFloat16)]
    public bool StorageOnly { get; init; }
}

/// <summary>Weight-only settings of the layers an entry of <c>layers</c> matches; an absent key keeps the step's value.</summary>
public sealed record LayerQuantizeSpec
{
    [Option("Bits of these layers: 4 or 8.", Minimum = 4, Maximum = 8, Values = new double[] { 4, 8 })]
    public int? Bits { get; init; }

    [Option("Block size of these layers: a power of two from 16 to 256.", Minimum = 16, Maximum = 256, Values = new double[] { 16, 32, 64, 128, 256 })]
    public int? BlockSize { get; init; }
}

/// <summary>The <c>calibration</c> options.</summary>
public sealed record CalibrationSpec
{
    [DataSet]
    [Option("The data set (a name under data) to calibrate on.")]
    public required string Data { get; init; }

    [Option("How ranges are found: min_max, percentile, entropy, mse.")]
    public CalibrationMethod Method { get; init; } = CalibrationMethod.MinMax;

    [Option("Percentile method: the percentile of absolute values kept.", Minimum = 90, Maximum = 100)]
    public double Percentile { get; init; } = 99.999;

    [Option("MinMax method: average the per-batch ranges instead of taking the extremes.")]
    public bool MovingAverage { get; init; }

    [Option("Histogram bins for percentile, entropy and mse.", Minimum = 128)]
    public int Bins { get; init; } = 2048;

    [Option("Samples of the data set used (the first ones).", Minimum = 1)]
    public int Samples { get; init; } = 256;

    [Option("Samples per calibration batch.", Minimum = 1)]
    public int BatchSize { get; init; } = 16;
}

/// <summary>The <c>fallback</c> options.</summary>
public sealed record FallbackSpec
{
    [Option("What per-layer sensitivity is measured with: sqnr (of the model's outputs, dB) or agreement.")]
    public FallbackMetric Metric { get; init; } = FallbackMetric.Sqnr;

    [Option("The value the whole model must reach; layers return to float, most sensitive first, until it does.")]
    public double Target { get; init; } = 30;

    [Option("The most layers that may return to float.", Minimum = 0)]
    public int MaxLayers { get; init; } = 8;

    [Option("Static mode with 8-bit activations: before any layer returns to float, give the most sensitive 1, 2, 4, ... layers (all last) 16-bit activations, their weights kept int8, until the target holds.")]
    public bool Widen { get; init; } = true;
}

/// <summary>Sensitivity metrics for fallback.</summary>
public enum FallbackMetric
{
    Sqnr,
    Agreement,
}
