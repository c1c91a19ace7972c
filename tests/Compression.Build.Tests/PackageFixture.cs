using System.Diagnostics;

namespace Compression.Build.Tests;

/// <summary>
/// Packs Compression.Build once per test run into a local feed, with a version of its own, so consumer projects
/// restore exactly this build (and the user's NuGet cache is never touched: consumers restore into a temp folder).
/// </summary>
public sealed class PackageFixture : IDisposable
{
    public PackageFixture()
    {
        Root = Path.Combine(Path.GetTempPath(), "compression-e2e", Guid.NewGuid().ToString("N"));
        Feed = Path.Combine(Root, "feed");
        Packages = Path.Combine(Root, "packages");
        Version = $"0.0.0-e2e.{DateTime.UtcNow:yyyyMMddHHmmss}";
        var project = Path.Combine(RepoRoot, "tasks", "Compression.Build", "Compression.Build.csproj");
        var result = Dotnet(RepoRoot, "pack", project, "-c", "Release", "-o", Feed, $"-p:Version={Version}");
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException("Packing Compression.Build failed:\n" + result.Output);
        }
    }

    public string Root { get; }

    public string Feed { get; }

    public string Packages { get; }

    public string Version { get; }

    public static string RepoRoot { get; } = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../../.."));

    public static string SharedAssets { get; } = Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "assets"));

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>Runs dotnet with MSBuild node reuse off (a reused node could run an older task) and returns its output.</summary>
    public static (int ExitCode, string Output) Dotnet(string workingDirectory, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var name in new[] { "MSBuildExtensionsPath", "MSBuildSDKsPath", "MSBUILD_EXE_PATH", "VSTEST_HOST_DEBUG" })
        {
            start.Environment.Remove(name);
        }

        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output + error.Result);
    }
}
