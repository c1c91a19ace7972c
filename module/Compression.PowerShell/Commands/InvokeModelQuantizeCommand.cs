using System.Management.Automation;
using Compression.Core.Data;
using Compression.Core.Diagnostics;
using Compression.Core.Passes;
using Compression.Core.Pipeline;
using Compression.Core.Quantization;
using Compression.Core.Recipes;

namespace Compression.PowerShell.Commands;

/// <summary>
/// Quantizes models (dynamic or static int8, 4/8-bit weight-only, float16/bfloat16) and checks the result against
/// the original with ONNX Runtime: the same pipeline, result and report as a one-step recipe.
/// </summary>
[Cmdlet(VerbsLifecycle.Invoke, "ModelQuantize", DefaultParameterSetName = PathSet, SupportsShouldProcess = true)]
[OutputType("Compression.Core.Pipeline.CompressionResult")]
public sealed class InvokeModelQuantizeCommand : ModelCmdlet
{
    private const string CalibrationSet = "calibration";
    private const string CheckSet = "check";

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? OutputPath { get; set; }

    // Enum-like parameters are strings with a ValidateSet: this assembly must not hold fields of the engine's
    // value types, which PowerShell would load while it inspects the cmdlets, before the engine can resolve.
    [Parameter]
    [ValidateSet("Dynamic", "Static", "WeightOnly", "Float16", "BFloat16")]
    public string Mode { get; set; } = "Dynamic";

    /// <summary>Data to calibrate on (static mode, GPTQ) and to check the result on: a file, a folder, or a YAML data description.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? CalibrationData { get; set; }

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
    public int BlockSize { get; set; } = 32;

    [Parameter]
    [ValidateSet("Rtn", "Gptq")]
    public string Algorithm { get; set; } = "Rtn";

    [Parameter]
    [ValidateNotNull]
    public string[] Exclude { get; set; } = [];

    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
        var inputs = ResolveInputPaths().ToList();
        if (OutputPath is not null && inputs.Count > 1)
        {
            ThrowTerminatingError(new ErrorRecord(new ArgumentException("-OutputPath names one file; give one model, or let the default names (model.int8.onnx, ...) name each result."),
                ErrorCodes.HostOutputPathForManyInputs, ErrorCategory.InvalidArgument, OutputPath));
        }

        Recipe recipe;
        try
        {
            recipe = BuildRecipe();
        }
        catch (CompressionException e)
        {
            ThrowDiagnostics(e, CalibrationData ?? Mode);
            return;
        }

        foreach (var input in inputs)
        {
            var request = new CompressionRequest(input, recipe) { OutputPath = OutputPath is null ? null : ResolveOtherPath(OutputPath), Force = Force };
            var plan = CompressionPipeline.Plan(request);
            if (!ShouldProcess(plan.OutputPath, $"Quantize {plan.InputPath} ({Describe()}), check it against the original on {(CalibrationData is null ? "random inputs" : CalibrationData)}, and write the result"))
            {
                continue;
            }

            try
            {
                var result = CompressionPipeline.Run(request, Log, Cancellation);
                WriteObject(result);
            }
            catch (CompressionException e)
            {
                WriteDiagnostics(e, input);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private Recipe BuildRecipe()
    {
        var options = new QuantizeOptions
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
        var (check, folder) = CalibrationData is null
            ? (new DataSetSpec { Format = DataFormat.Random, Count = 16, Name = "random inputs" }, SessionState.Path.CurrentFileSystemLocation.Path)
            : DataParameters.Describe(ResolveOtherPath(CalibrationData));
        var data = new Dictionary<string, DataSetSpec> { [CheckSet] = CalibrationData is null ? check : check with { Take = check.Take ?? 256 } };
        if (CalibrationData is not null)
        {
            data[CalibrationSet] = data[CheckSet];
        }

        var pass = PassRegistry.Find("quantize") ?? throw new CompressionException(Diagnostic.Error(ErrorCodes.RecipeUnknownStep, "This build has no quantize step."));
        return new Recipe
        {
            Data = data,
            Steps = [new RecipeStep(pass, options, 0, 0)],
            Evaluate = new EvaluateSpec { Data = CheckSet },
            Output = "{name}." + Suffix() + ".onnx",
            BaseDirectory = folder,
        };
    }

    private static T Parse<T>(string value)
        where T : struct, Enum => Enum.Parse<T>(value, ignoreCase: true);

    /// <summary>The default output name says what was done: model.int8.onnx, model.int4.onnx, model.fp16.onnx.</summary>
    private string Suffix() => Mode switch
    {
        "WeightOnly" => $"int{Bits}",
        "Float16" => "fp16",
        "BFloat16" => "bf16",
        _ => "int8",
    };

    private string Describe() => Mode switch
    {
        "WeightOnly" => $"weight-only {Bits}-bit, block {BlockSize}, {Algorithm}",
        "Static" => $"static int8, {Format}, {Method} calibration",
        _ => Mode,
    };
}
