using System.Runtime.Intrinsics.X86;
using System.Security.Cryptography;
using Compression.Core.Diagnostics;
using Compression.Core.Pipeline;
using Compression.Core.Recipes;
using Compression.Core.Tests.Corpus;
using Compression.Core.Tests.Support;

namespace Compression.Core.Tests.Pipeline;

/// <summary>
/// The bytes every explicit-format sweep step writes for four corpus models, against the SHA-256 list in
/// tests/fixtures/output-hashes.txt: a refactoring must leave them identical. The list is made on one CPU kind
/// (calibration runs the model in ONNX Runtime, whose kernels differ in the last bits between instruction sets),
/// so on another the test is skipped. After a deliberate change of output, rewrite the list with
/// COMPRESSION_UPDATE_HASHES=1 and say why in the commit.
/// </summary>
public sealed class OutputHashTests : IDisposable
{
    private static readonly string[] Models = ["lstm", "mlp_gemm", "residual_cnn", "transformer"];

    // format: auto measures latency here, so its choice may differ from run to run; the rest are fixed.
    private static readonly string[] Steps =
    [
        "prune-nm", "prune-structured", "prune-unstructured", "quantize-dynamic", "quantize-float16", "quantize-int4", "quantize-int8",
        "quantize-static-qdq", "quantize-static-qoperator",
    ];

    private static readonly string HashFile = Path.Combine(TestAssets.RepoRoot, "tests", "fixtures", "output-hashes.txt");

    private readonly string folder = TestAssets.TempDirectory();

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [SkippableFact]
    public void Every_step_writes_the_bytes_it_wrote_before()
    {
        ExportCorpus.RequireData();
        var lines = new List<string> { "# cpu " + CpuKind() };
        foreach (var model in Models)
        {
            foreach (var step in Steps)
            {
                var recipe = RecipeParser.Load(Path.Combine(ExportCorpus.SweepFolder, step + ".yaml")) with { Evaluate = null };
                var output = Path.Combine(folder, $"{model}.{step}.onnx");
                CompressionPipeline.Run(new CompressionRequest(ExportCorpus.Models[model].Path, recipe) { OutputPath = output }, new CollectingLog());
                lines.Add($"{model} {step} {Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(output)))}");
            }
        }

        if (Environment.GetEnvironmentVariable("COMPRESSION_UPDATE_HASHES") == "1")
        {
            File.WriteAllLines(HashFile, lines);
        }

        var expected = File.ReadAllLines(HashFile);
        Skip.If(expected[0] != lines[0], $"The hashes were made on '{expected[0][6..]}', this CPU is '{CpuKind()}'.");
        Assert.Equal(expected, lines);
    }

    private static string CpuKind() =>
        $"{System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture} avx2={Avx2.IsSupported} avx512f={Avx512F.IsSupported} avxvnni={AvxVnni.IsSupported}";
}
