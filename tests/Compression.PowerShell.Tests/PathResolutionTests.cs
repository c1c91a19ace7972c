using System.Management.Automation;

namespace Compression.PowerShell.Tests;

/// <summary>How the cmdlets resolve -Path and -LiteralPath, in a real runspace with providers and drives.</summary>
public sealed class PathResolutionTests
{
    [SkippableFact]
    public void A_wildcard_that_matches_nothing_is_a_non_terminating_not_found_error_and_the_other_paths_still_run()
    {
        using var host = ModuleHost.Create();
        var output = host.Run("Get-ModelInfo 'nothing*.onnx', 'mnist-8.onnx'", out var shell);

        Assert.Single(output);
        var error = Assert.Single(shell.Streams.Error);
        Assert.StartsWith("CMP5001,", error.FullyQualifiedErrorId, StringComparison.Ordinal);
        Assert.Equal(ErrorCategory.ObjectNotFound, error.CategoryInfo.Category);
        Assert.Equal("nothing*.onnx", error.TargetObject);
    }

    [SkippableFact]
    public void A_folder_is_refused_with_CMP2002()
    {
        using var host = ModuleHost.Create();
        host.Run($"Get-ModelInfo '{host.Folder}'", out var shell);

        var error = Assert.Single(shell.Streams.Error);
        Assert.StartsWith("CMP2002,", error.FullyQualifiedErrorId, StringComparison.Ordinal);
        Assert.Equal(ErrorCategory.InvalidArgument, error.CategoryInfo.Category);
    }

    [SkippableFact]
    public void A_path_on_a_PowerShell_drive_resolves_to_the_file_system_path()
    {
        using var host = ModuleHost.Create();
        var info = Assert.Single(host.Run($"New-PSDrive -Name Models -PSProvider FileSystem -Root '{host.Folder}' | Out-Null; Get-ModelInfo Models:/mnist-8.onnx"));

        Assert.Equal(host.Model, info.Properties["Path"].Value);
    }

    [SkippableFact]
    public void A_path_of_another_provider_is_refused_with_CMP5002()
    {
        using var host = ModuleHost.Create();
        host.Run("Get-ModelInfo Env:/PATH", out var shell);

        var error = Assert.Single(shell.Streams.Error);
        Assert.StartsWith("CMP5002,", error.FullyQualifiedErrorId, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void LiteralPath_takes_brackets_literally_where_Path_reads_them_as_a_wildcard()
    {
        using var host = ModuleHost.Create();
        File.Copy(host.Model, Path.Combine(host.Folder, "model[1].onnx"));

        Assert.Single(host.Run("Get-ModelInfo -LiteralPath 'model[1].onnx'"));
        host.Run("Get-ModelInfo -Path 'model[1].onnx'", out var shell);
        Assert.StartsWith("CMP5001,", Assert.Single(shell.Streams.Error).FullyQualifiedErrorId, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Files_from_Get_ChildItem_bind_by_property_name()
    {
        using var host = ModuleHost.Create();
        File.Copy(host.Model, Path.Combine(host.Folder, "second.onnx"));

        var infos = host.Run("Get-ChildItem -Filter *.onnx | Get-ModelInfo");

        Assert.Equal(["mnist-8.onnx", "second.onnx"], infos.Select(i => Path.GetFileName((string)i.Properties["Path"].Value)).Order(StringComparer.Ordinal));
    }
}
