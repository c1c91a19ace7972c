using System.Management.Automation;
using Compression.Core.Passes;
using Compression.Core.Quantization;

namespace Compression.PowerShell.Commands;

/// <summary>
/// Quantizes models (dynamic or static int8, 4/8-bit weight-only, float16/bfloat16) and checks the result against
/// the original with ONNX Runtime: the same pipeline, result and report as a one-step recipe.
/// </summary>
[Cmdlet(VerbsLifecycle.Invoke, "ModelQuantize", DefaultParameterSetName = PathSet, SupportsShouldProcess = true)]
[OutputType("Compression.Core.Pipeline.CompressionResult")]
public sealed class InvokeModelQuantizeCommand : OneStepCmdlet
{
    // Enum-like parameters are strings with a ValidateSet: this assembly must not hold fields of the engine's
    // value types, which PowerShell would load while it inspects the cmdlets, before the engine can resolve.
    [Parameter]
    [ValidateSet("Dynamic", "Static", "WeightOnly", "Float16", "BFloat16")]
    public string Mode { get; set; } = "Dynamic";

    [Parameter]
    [ValidateSet("MinMax", "Percentile", "Entropy", "Mse")]
    public string Method { get; set; } = "MinMax";

    [Parameter]
    public SwitchParameter PerChannel { get; set; } = true;

    [Parameter]
    [ValidateSet("Auto", "QDQ", "QOperator")]
    public string Format { get; set; } = "Auto";

    [Parameter]
    [ValidateSet("U8", "S8", "U16", "S16")]
    public string ActivationType { get; set; } = "U8";

    [Parameter]
    [ValidateSet("S8", "U8")]
    public string WeightType { get; set; } = "S8";

    [Parameter]
    [ValidateSet("4", "8")]
    public int Bits { get; set; } = 4;

    [Parameter]
    [ValidateSet("16", "32", "64", "128", "256")]
    public int BlockSize { get; set; } = 64;

    [Parameter]
    [ValidateSet("Auto", "Rtn", "Gptq")]
    public string Algorithm { get; set; } = "Auto";

    [Parameter]
    [ValidateNotNull]
    public string[] Exclude { get; set; } = [];

    protected override string StepName => "quantize";

    protected override string Action => "Quantize";

    protected override PassOptions BuildOptions() => new QuantizeOptions
    {
        Mode = Parse<QuantizationMode>(Mode),
        Format = Parse<QuantizationFormat>(Format),
        PerChannel = PerChannel,
        ActivationType = Parse<QuantizedType>(ActivationType),
        WeightType = Parse<QuantizedType>(WeightType),
        Bits = Bits,
        BlockSize = BlockSize,
        Algorithm = Parse<WeightOnlyAlgorithm>(Algorithm),
        Exclude = Exclude,
        Calibration = CalibrationData is null ? null : new CalibrationSpec { Data = CalibrationSet, Method = Parse<CalibrationMethod>(Method) },
    };

    /// <summary>The default output name says what was done: model.int8.onnx, model.int4.onnx, model.fp16.onnx.</summary>
    protected override string Suffix() => Mode switch
    {
        "WeightOnly" => $"int{Bits}",
        "Float16" => "fp16",
        "BFloat16" => "bf16",
        _ => "int8",
    };

    protected override string Describe() => Mode switch
    {
        "WeightOnly" => $"weight-only {Bits}-bit, block {BlockSize}, {Algorithm}",
        "Static" => $"static int8, {Format}, {Method} calibration",
        _ => Mode,
    };
}
