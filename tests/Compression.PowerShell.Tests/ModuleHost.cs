using System.Collections.ObjectModel;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using System.Reflection;

namespace Compression.PowerShell.Tests;

/// <summary>
/// A runspace with the laid-out module imported, and a scratch folder holding a copy of mnist-8. Each test gets
/// its own (runspaces are cheap; the module's load context is created once per process).
/// </summary>
public sealed class ModuleHost : IDisposable
{
    public static string RepoRoot { get; } = Path.GetFullPath(typeof(ModuleHost).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "RepoRoot").Value!);

    public static string ModuleManifest { get; } = Path.Combine(RepoRoot, "out", "Compression", "Compression.psd1");

    public static string SharedAssets { get; } = Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "assets"));

    public static string MnistImages { get; } = Path.Combine(SharedAssets, "mnist", "t10k-images-idx3-ubyte.gz");

    public static string MnistLabels { get; } = Path.Combine(SharedAssets, "mnist", "t10k-labels-idx1-ubyte.gz");

    private readonly Runspace runspace;

    private ModuleHost()
    {
        Folder = Directory.CreateTempSubdirectory("cmp-pwsh-").FullName;
        var state = InitialSessionState.CreateDefault2();
        runspace = RunspaceFactory.CreateRunspace(state);
        runspace.Open();
        runspace.SessionStateProxy.Path.SetLocation(Folder);
        Run($"Import-Module '{ModuleManifest}'");
    }

    /// <summary>A fresh scratch folder the runspace's current location points at.</summary>
    public string Folder { get; }

    /// <summary>mnist-8 copied into the scratch folder.</summary>
    public string Model => Path.Combine(Folder, "mnist-8.onnx");

    /// <summary>A host with the module imported; skips the test when the module or the shared MNIST assets are absent.</summary>
    public static ModuleHost Create()
    {
        Skip.IfNot(File.Exists(ModuleManifest), $"The module is not laid out at {ModuleManifest}; run ./build.ps1 build first.");
        Skip.IfNot(File.Exists(Path.Combine(SharedAssets, "mnist", "mnist-8.onnx")), $"../shared/assets/mnist is not available here ({SharedAssets}).");
        var host = new ModuleHost();
        File.Copy(Path.Combine(SharedAssets, "mnist", "mnist-8.onnx"), host.Model);
        return host;
    }

    /// <summary>A PowerShell instance on this host's runspace, for tests that look at streams or stop the pipeline.</summary>
    public System.Management.Automation.PowerShell Shell()
    {
        var shell = System.Management.Automation.PowerShell.Create();
        shell.Runspace = runspace;
        return shell;
    }

    /// <summary>Runs a script; errors stay in the returned shell's streams (check them), they do not throw.</summary>
    public Collection<PSObject> Run(string script, out System.Management.Automation.PowerShell shell)
    {
        shell = Shell();
        return shell.AddScript(script).Invoke();
    }

    /// <summary>Runs a script that must not write errors.</summary>
    public Collection<PSObject> Run(string script)
    {
        var output = Run(script, out var shell);
        using (shell)
        {
            Assert.False(shell.HadErrors, string.Join(Environment.NewLine, shell.Streams.Error.Select(e => $"{e.FullyQualifiedErrorId}: {e}")));
        }

        return output;
    }

    /// <summary>Names of the files in the scratch folder, sorted.</summary>
    public string[] Files() => Directory.GetFiles(Folder).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;

    public void Dispose()
    {
        runspace.Dispose();
        Directory.Delete(Folder, recursive: true);
    }
}
