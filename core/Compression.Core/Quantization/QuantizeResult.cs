using Compression.Core.Passes;

namespace Compression.Core.Quantization;

/// <summary>
/// What the <c>quantize</c> step did, by mode; its <see cref="StepResult.Layers"/> hold one row per weight layer
/// quantized. <see cref="Fallback"/> and <see cref="Recurrent"/> are there when fallback ran or the model has LSTM, GRU or RNN.
/// </summary>
public abstract record QuantizeResult : StepResult
{
    public FallbackFigures? Fallback { get; init; }

    public RecurrentFigures? Recurrent { get; init; }
}

/// <summary>Dynamic int8: what was quantized by op type, what was left float and why.</summary>
public sealed record DynamicQuantizeResult(string Form, int QuantizedNodes, int QuantizedWeights, IReadOnlyDictionary<string, int> QuantizedByOp,
    int SmoothedLayerNorms, IReadOnlyDictionary<string, string> Skipped) : QuantizeResult;

/// <summary>
/// Static int8 or 16-bit: the calibration, what was quantized, and with <c>format: auto</c> the formats measured here
/// (<see cref="FormatChoice"/>). <see cref="QuantizedNodes"/> is 0 when the model was left float.
/// </summary>
public sealed record StaticQuantizeResult(string CalibrationMethod, int CalibratedTensors, int FusedNodes, int Excluded, string Algorithm) : QuantizeResult
{
    public int QuantizedNodes { get; init; }

    /// <summary>Nodes in the written graph.</summary>
    public int Nodes { get; init; }

    /// <summary>The domain of its QuantizeLinear/DequantizeLinear: ai.onnx, or com.microsoft for 16-bit or an old opset.</summary>
    public string? QdqDomain { get; init; }

    public FormatChoice? FormatChoice { get; init; }
}

/// <summary>
/// How <c>format: auto</c> chose: the latency of each candidate and of float32 here (ms, batch 1, one thread, timed side
/// by side), their cosine to the float model on the calibration data, the one kept, and the layers kept float for speed.
/// </summary>
public sealed record FormatChoice(string Format, IReadOnlyDictionary<string, double> LatencyMs, IReadOnlyDictionary<string, double> Cosine)
{
    public IReadOnlyList<string>? LatencyFloatLayers { get; init; }
}

/// <summary>Weight-only 4/8-bit: bits, block size, what was quantized by kind, and the weights' bytes before and after.</summary>
public sealed record WeightOnlyQuantizeResult(int Bits, int BlockSize, string Algorithm, int QuantizedMatMul, int QuantizedGemm, int QuantizedConv, int QuantizedGather)
    : QuantizeResult
{
    /// <summary>How many weights took each bits/block-size pair (e.g. "4/128": 31, "8/128": 6) when they differ; null otherwise.</summary>
    public IReadOnlyDictionary<string, int>? Layouts { get; init; }

    public long WeightBytesBefore { get; init; }

    public long WeightBytesAfter { get; init; }
}

/// <summary>float16 or bfloat16: what was converted, what stayed float32 and why.</summary>
public sealed record FloatQuantizeResult(string Target) : QuantizeResult
{
    /// <summary>Only the weights are stored in the target type (dequantized by Casts); the compute stays float32.</summary>
    public bool StorageOnly { get; init; }

    /// <summary>With <see cref="StorageOnly"/>: the initializers stored in the target type.</summary>
    public int StoredInitializers { get; init; }

    public int ConvertedNodes { get; init; }

    public int ConvertedInitializers { get; init; }

    /// <summary>Nodes kept float32 by op type (the block list).</summary>
    public IReadOnlyDictionary<string, int>? BlockedNodes { get; init; }

    public int CastsInserted { get; init; }

    /// <summary>Op types kept float32 because ONNX Runtime here has no kernel for them in the target type.</summary>
    public IReadOnlyList<string>? BlockedAtLoad { get; init; }
}

/// <summary>
/// Per-layer fallback: each layer's figure when quantized alone (<see cref="Sensitivity"/>, lowest first), the layers
/// widened to 16-bit activations and returned to float, and the model's figure after (SQNR dB or top-1 agreement %).
/// </summary>
public sealed record FallbackFigures(IReadOnlyDictionary<string, double> Sensitivity, IReadOnlyList<string> FallbackLayers, double FallbackValue)
{
    /// <summary>The widened layers measured alone again at 16 bits, when widening did not reach the target.</summary>
    public IReadOnlyDictionary<string, double>? WideSensitivity { get; init; }

    public int? WideLayers { get; init; }

    public double? WideValue { get; init; }
}

/// <summary>LSTM, GRU and RNN: how many were found and quantized, in which form, their weights' bytes, and a note when only their storage shrank.</summary>
public sealed record RecurrentFigures(int Ops, int Quantized, IReadOnlyDictionary<string, int> Forms, long WeightBytesBefore, long WeightBytesAfter)
{
    public string? Storage { get; init; }
}
