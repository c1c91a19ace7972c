using System.Management.Automation;
using Compression.Core.Data;
using Compression.Core.Diagnostics;
using Compression.Core.Passes;
using Compression.Core.Pipeline;
using Compression.Core.Recipes;

namespace Compression.PowerShell.Commands;

/// <summary>
/// The cmdlets that run one step (quantize, prune, factorize) as a one-step recipe, so their result and report are those of
/// <c>Invoke-ModelCompression</c>: <c>-OutputPath</c> (default: a name that says what was done), <c>-CalibrationData</c>
/// (also what the result is checked on; random inputs without it), <c>-Force</c>, and <c>-WhatIf</c>.
/// </summary>
public abstract class OneStepCmdlet : ModelCmdlet
{
    /// <summary>The recipe name of the calibration data set, for the step's options.</summary>
    protected const string CalibrationSet = "calibration";

    private const string CheckSet = "check";

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? OutputPath { get; set; }

    /// <summary>Data to calibrate on and to check the result with: a file, a folder, or a YAML data description.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? CalibrationData { get; set; }

    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>The step's pass name, e.g. <c>quantize</c>.</summary>
    protected abstract string StepName { get; }

    /// <summary>The verb of the -WhatIf line, e.g. <c>Quantize</c>.</summary>
    protected abstract string Action { get; }

    /// <summary>The step's options from the cmdlet's parameters.</summary>
    protected abstract PassOptions BuildOptions();

    /// <summary>What the default output name adds before <c>.onnx</c>, e.g. <c>int8</c>.</summary>
    protected abstract string Suffix();

    /// <summary>The settings in words, for -WhatIf.</summary>
    protected abstract string Describe();

    /// <summary>
    /// Lines that detail what would be done to one model, for -WhatIf and -Confirm (e.g. one per layer); computed only
    /// then, so a plan that reads calibration data costs nothing on a plain run.
    /// </summary>
    protected virtual IReadOnlyList<string> Plan(string input, PassOptions options, Recipe recipe) => [];

    protected override void ProcessRecord()
    {
        var inputs = ResolveInputPaths(OutputPath, "-OutputPath");

        var (options, recipe) = Prepare(CalibrationData ?? StepName, () =>
        {
            var options = BuildOptions();
            return (options, BuildRecipe(options));
        });

        foreach (var input in inputs)
        {
            Process(input, () =>
            {
                var request = new CompressionRequest(input, recipe) { OutputPath = OutputPath is null ? null : ResolveOtherPath(OutputPath), Force = Force };
                var plan = CompressionPipeline.Plan(request);
                var action = $"{Action} {plan.InputPath} ({Describe()}), check it against the original on {CalibrationData ?? "random inputs"}, and write the result"
                    + (Asks() ? string.Concat(Plan(input, options, recipe).Select(line => Environment.NewLine + "  " + line)) : "");
                if (ShouldProcess(plan.OutputPath, action))
                {
                    WriteObject(CompressionPipeline.Run(request, Log, Cancellation));
                }
            });
        }
    }

    /// <summary>Whether ShouldProcess will show its message: -WhatIf or -Confirm, given or through their preference variables.</summary>
    private bool Asks()
    {
        var bound = MyInvocation.BoundParameters;
        var whatIf = bound.TryGetValue("WhatIf", out var w) ? LanguagePrimitives.IsTrue(w) : LanguagePrimitives.IsTrue(GetVariableValue("WhatIfPreference"));
        var confirm = bound.TryGetValue("Confirm", out var c) ? LanguagePrimitives.IsTrue(c)
            : GetVariableValue("ConfirmPreference") is ConfirmImpact preference && preference != ConfirmImpact.None && preference <= ConfirmImpact.Medium;
        return whatIf || confirm;
    }

    protected static T Parse<T>(string value)
        where T : struct, Enum => Enum.Parse<T>(value, ignoreCase: true);

    private Recipe BuildRecipe(PassOptions options)
    {
        var (check, folder) = CalibrationData is null
            ? (new DataSetSpec { Format = DataFormat.Random, Count = 16, Name = "random inputs" }, SessionState.Path.CurrentFileSystemLocation.Path)
            : DataParameters.Describe(ResolveOtherPath(CalibrationData));
        var data = new Dictionary<string, DataSetSpec> { [CheckSet] = CalibrationData is null ? check : check with { Take = check.Take ?? 256 } };
        if (CalibrationData is not null)
        {
            data[CalibrationSet] = data[CheckSet];
        }

        var pass = PassRegistry.Find(StepName) ?? throw new CompressionException(Diagnostic.Error(ErrorCodes.RecipeUnknownStep, $"This build has no {StepName} step."));
        return new Recipe
        {
            Data = data,
            Steps = [new RecipeStep(pass, options, 0, 0)],
            Evaluate = new EvaluateSpec { Data = CheckSet },
            Output = "{name}." + Suffix() + ".onnx",
            BaseDirectory = folder,
        };
    }
}
