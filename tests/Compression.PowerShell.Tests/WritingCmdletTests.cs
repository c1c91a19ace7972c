using System.Management.Automation;
using System.Security.Cryptography;
using System.Text.Json;

namespace Compression.PowerShell.Tests;

/// <summary>The cmdlets that write models: -WhatIf, -Force, the input never overwritten, streams, Ctrl+C, JSON.</summary>
public sealed class WritingCmdletTests
{
    [SkippableFact]
    public void An_output_path_equal_to_the_input_is_refused_with_CMP2010_even_with_Force_and_the_input_is_untouched()
    {
        using var host = ModuleHost.Create();
        var before = SHA256.HashData(File.ReadAllBytes(host.Model));

        foreach (var force in new[] { "", "-Force" })
        {
            host.Run($"Invoke-ModelQuantize mnist-8.onnx -OutputPath ./mnist-8.onnx {force}", out var shell);
            var error = Assert.Single(shell.Streams.Error);
            Assert.StartsWith("CMP2010,", error.FullyQualifiedErrorId, StringComparison.Ordinal);
            Assert.Equal(ErrorCategory.ResourceExists, error.CategoryInfo.Category);
        }

        Assert.Equal(before, SHA256.HashData(File.ReadAllBytes(host.Model)));
        Assert.Equal(["mnist-8.onnx"], host.Files());
    }

    [SkippableFact]
    public void An_unknown_mode_is_a_parameter_validation_error_that_names_the_valid_ones()
    {
        using var host = ModuleHost.Create();
        host.Run("Invoke-ModelQuantize mnist-8.onnx -Mode Int3", out var shell);

        var error = Assert.Single(shell.Streams.Error);
        Assert.StartsWith("ParameterArgumentValidationError,", error.FullyQualifiedErrorId, StringComparison.Ordinal);
        Assert.Contains("WeightOnly", error.Exception.Message, StringComparison.Ordinal);
        Assert.Equal(["mnist-8.onnx"], host.Files());
    }

    [SkippableFact]
    public void WhatIf_writes_nothing_and_Force_replaces_an_existing_output()
    {
        using var host = ModuleHost.Create();
        host.Run("Invoke-ModelQuantize mnist-8.onnx -WhatIf");
        Assert.Equal(["mnist-8.onnx"], host.Files());

        host.Run("Invoke-ModelQuantize mnist-8.onnx");
        host.Run("Invoke-ModelQuantize mnist-8.onnx", out var shell);
        Assert.StartsWith("CMP2011,", Assert.Single(shell.Streams.Error).FullyQualifiedErrorId, StringComparison.Ordinal);
        host.Run("Invoke-ModelQuantize mnist-8.onnx -Force");
        Assert.Equal(["mnist-8.int8.onnx", "mnist-8.int8.onnx.report.json", "mnist-8.onnx"], host.Files());
    }

    [SkippableFact]
    public void Verbose_shows_each_step_and_static_quantization_reports_calibration_progress()
    {
        using var host = ModuleHost.Create();
        var data = WriteMnistDescription(host, take: 64);
        host.Run($"Invoke-ModelQuantize mnist-8.onnx -Mode Static -CalibrationData '{data}' -Format QDQ -Verbose", out var shell);

        Assert.False(shell.HadErrors, string.Join("; ", shell.Streams.Error));
        Assert.Contains(shell.Streams.Verbose, v => v.Message.Contains("quantize", StringComparison.OrdinalIgnoreCase));
        Assert.Contains(shell.Streams.Progress, p => p.Activity == "Calibrating");
        Assert.Contains(shell.Streams.Progress, p => p.Activity == "Evaluating");
    }

    [SkippableFact]
    public void Stopping_the_pipeline_mid_evaluation_leaves_no_output_and_no_temp_file()
    {
        using var host = ModuleHost.Create();
        var data = WriteMnistDescription(host, take: null);
        using var shell = host.Shell();
        using var evaluating = new ManualResetEventSlim();
        shell.Streams.Progress.DataAdded += (_, e) =>
        {
            if (shell.Streams.Progress[e.Index].Activity == "Evaluating")
            {
                evaluating.Set();
            }
        };

        shell.AddScript($"Invoke-ModelQuantize mnist-8.onnx -Mode Dynamic -CalibrationData '{data}'");
        var run = shell.BeginInvoke();
        Assert.True(evaluating.Wait(TimeSpan.FromMinutes(2)), "The evaluation never started.");
        shell.Stop();
        Assert.Throws<PipelineStoppedException>(() => shell.EndInvoke(run));

        Assert.Equal(PSInvocationState.Stopped, shell.InvocationStateInfo.State);
        Assert.Equal(["mnist-8.onnx", "mnist.yaml"], host.Files());
    }

    [SkippableFact]
    public void The_result_converts_to_JSON_with_its_paths_sizes_and_verdict()
    {
        using var host = ModuleHost.Create();
        var json = (string)Assert.Single(host.Run("Invoke-ModelQuantize mnist-8.onnx | ConvertTo-Json -Depth 8")).BaseObject;

        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        Assert.Equal(Path.Combine(host.Folder, "mnist-8.int8.onnx"), root.GetProperty("OutputPath").GetString());
        Assert.True(root.GetProperty("Passed").GetBoolean());
        Assert.True(root.GetProperty("OutputSizeBytes").GetInt64() < root.GetProperty("InputSizeBytes").GetInt64());
    }

    private static string WriteMnistDescription(ModuleHost host, int? take)
    {
        var path = Path.Combine(host.Folder, "mnist.yaml");
        File.WriteAllText(path, $"format: idx\npath: {ModuleHost.MnistImages}\nlabels: {ModuleHost.MnistLabels}\n" + (take is { } t ? $"take: {t}\n" : ""));
        return path;
    }
}
