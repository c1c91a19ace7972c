using Compression.Core.Diagnostics;
using Compression.Core.Options;
using Compression.Core.Pruning;
using Compression.Core.Quantization;
using Compression.Core.Recipes;
using Compression.Core.Tests.Support;

namespace Compression.Core.Tests.Recipes;

/// <summary>A step's options are checked together when the recipe is read: each problem at its option's line and column.</summary>
public sealed class OptionCheckTests : IDisposable
{
    private readonly string folder = TestAssets.TempDirectory();

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void A_criterion_measured_on_data_without_calibration_is_an_error_at_its_key()
    {
        var diagnostics = Check("""
            steps:
              - prune: { criterion: activation }
            """);

        var error = Assert.Single(diagnostics);
        Assert.Equal(DiagnosticSeverity.Error, error.Severity);
        Assert.Equal(ErrorCodes.PruneCalibrationMissing, error.Code);
        Assert.Equal((2, 14), (error.Line, error.Column));
        Assert.Contains("step 'prune'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_option_the_mode_does_not_read_is_a_warning_at_its_key()
    {
        var diagnostics = Check("""
            steps:
              - quantize:
                  mode: dynamic
                  block_size: 64
            """);

        var warning = Assert.Single(diagnostics);
        Assert.Equal(DiagnosticSeverity.Warning, warning.Severity);
        Assert.Equal(ErrorCodes.RecipeOptionIgnored, warning.Code);
        Assert.Equal((4, 7), (warning.Line, warning.Column));
        Assert.Contains("block_size is read only when it is weight_only", warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_problem_of_every_step_is_reported_at_once()
    {
        var diagnostics = Check("""
            steps:
              - quantize: { mode: static }
              - prune: { method: nm, pattern: "5:4", schedule: { steps: 3, stop_when: { accuracy_drop: 0.01 } } }
              - prune: { sparsity: 0.5, min_ratio: 0.9, max_ratio: 0.8, scope: global }
            """);

        Assert.Equal(
            [
                (ErrorCodes.CalibrationDataMissing, 2, 17),
                (ErrorCodes.PrunePattern, 3, 26),
                (ErrorCodes.PruneOptionConflict, 3, 42),
                (ErrorCodes.PruneOptionConflict, 4, 29),
            ],
            diagnostics.Select(d => (d.Code, d.Line ?? 0, d.Column ?? 0)));
    }

    [Fact]
    public void A_valid_combination_gives_nothing()
    {
        Assert.Empty(Check("""
            data:
              calib: { format: random, count: 4 }
            steps:
              - prune: { criterion: output_error, calibration: { data: calib } }
              - quantize: { mode: weight_only, bits: 4, block_size: 32 }
            """));
    }

    [Fact]
    public void Options_built_in_code_meet_the_same_checks_when_the_step_runs()
    {
        var error = Assert.Throws<CompressionException>(() => OptionChecks.ThrowIfInvalid(new PruneOptions { Criterion = ImportanceCriterion.Activation }, "m.onnx"));
        Assert.Equal(ErrorCodes.PruneCalibrationMissing, error.Code);
        Assert.Empty(new QuantizeOptions { Mode = QuantizationMode.Dynamic, BlockSize = 64 }.Problems());
        Assert.Equal([ErrorCodes.QuantizationBlockSize], new QuantizeOptions { Mode = QuantizationMode.WeightOnly, BlockSize = 48 }.Problems().Select(p => p.Code));
    }

    private IReadOnlyList<Diagnostic> Check(string text) => RecipeParser.Parse(text, Path.Combine(folder, "r.yaml"), folder).Diagnostics;
}
