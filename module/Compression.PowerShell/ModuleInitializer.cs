using System.Management.Automation;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Runtime.Loader;

namespace Compression.PowerShell;

/// <summary>
/// Loads the engine and everything it depends on (Google.Protobuf, ONNX Runtime, YamlDotNet, ...) from the
/// module's <c>Dependencies</c> folder in a load context of its own, so another module's copy of those
/// libraries cannot break ours, nor ours theirs. This assembly holds only the cmdlets and touches no
/// dependency's types, only the engine's.
/// </summary>
public sealed class ModuleInitializer : IModuleAssemblyInitializer, IModuleAssemblyCleanup
{
    private const string EngineAssembly = "Compression.Core";

    private static readonly string DependencyDirectory =
        Path.Combine(Path.GetDirectoryName(typeof(ModuleInitializer).Assembly.Location)!, "Dependencies");

    private static readonly DependencyLoadContext LoadContext = new(DependencyDirectory);

    public void OnImport() => AssemblyLoadContext.Default.Resolving += ResolveEngine;

    public void OnRemove(PSModuleInfo psModuleInfo) => AssemblyLoadContext.Default.Resolving -= ResolveEngine;

    /// <summary>Only the engine is handed to the default context; its own dependencies resolve inside ours.</summary>
    private static Assembly? ResolveEngine(AssemblyLoadContext context, AssemblyName name) =>
        name.Name == EngineAssembly && Directory.Exists(DependencyDirectory) ? LoadContext.LoadFromAssemblyName(name) : null;

    private sealed class DependencyLoadContext(string directory) : AssemblyLoadContext("Compression", isCollectible: false)
    {
        protected override Assembly? Load(AssemblyName assemblyName)
        {
            var path = Path.Combine(directory, assemblyName.Name + ".dll");
            return File.Exists(path) ? LoadFromAssemblyPath(path) : null;
        }

        /// <summary>ONNX Runtime's native library, from runtimes/&lt;rid&gt;/native/ as its package lays it out.</summary>
        protected override IntPtr LoadUnmanagedDll(string unmanagedDllName)
        {
            var native = Path.Combine(directory, "runtimes", RuntimeIdentifier(), "native");
            foreach (var candidate in new[] { unmanagedDllName, $"lib{unmanagedDllName}.so", $"lib{unmanagedDllName}.dylib", $"{unmanagedDllName}.dll" })
            {
                var path = Path.Combine(native, candidate);
                if (File.Exists(path))
                {
                    return LoadUnmanagedDllFromPath(path);
                }
            }

            return IntPtr.Zero;
        }

        private static string RuntimeIdentifier()
        {
            var os = OperatingSystem.IsWindows() ? "win" : OperatingSystem.IsMacOS() ? "osx" : "linux";
            var arch = RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? "arm64" : "x64";
            return $"{os}-{arch}";
        }
    }
}
