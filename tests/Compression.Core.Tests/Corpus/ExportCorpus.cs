using System.Text.Json;
using Compression.Core.Tests.Support;

namespace Compression.Core.Tests.Corpus;

/// <summary>
/// The export-pattern corpus (tests/fixtures/corpus): each model's file and what tests/fixtures/make_corpus.py
/// recorded of it in corpus.json (fp32 top-1 of PyTorch on the 10,000 Fashion-MNIST test images, parameters, opset),
/// and the sweep recipes (tests/fixtures/sweep), one step each with the cmdlet's defaults.
/// </summary>
internal static class ExportCorpus
{
    private static readonly Lazy<IReadOnlyDictionary<string, CorpusModel>> Manifest = new(Read);

    public static IReadOnlyDictionary<string, CorpusModel> Models => Manifest.Value;

    public static string SweepFolder { get; } = Path.Combine(TestAssets.RepoRoot, "tests", "fixtures", "sweep");

    public static IEnumerable<string> SweepSteps() =>
        Directory.EnumerateFiles(SweepFolder, "*.yaml").Select(Path.GetFileNameWithoutExtension).Order(StringComparer.Ordinal)!;

    /// <summary>Skips the test unless the Fashion-MNIST data set is installed.</summary>
    public static void RequireData() =>
        TestAssets.Require(Path.Combine(TestAssets.FashionMnist, "t10k-images-idx3-ubyte.gz"), "Debian's dataset-fashion-mnist");

    private static IReadOnlyDictionary<string, CorpusModel> Read()
    {
        using var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(TestAssets.Corpus, "corpus.json")));
        var models = new Dictionary<string, CorpusModel>(StringComparer.Ordinal);
        foreach (var entry in document.RootElement.GetProperty("models").EnumerateObject())
        {
            var value = entry.Value;
            models[entry.Name] = new CorpusModel(
                entry.Name,
                Path.Combine(TestAssets.Corpus, value.GetProperty("file").GetString()!),
                value.GetProperty("opset").GetInt32(),
                value.GetProperty("parameters").GetInt64(),
                value.GetProperty("fp32_top1").GetDouble(),
                value.GetProperty("patterns").EnumerateArray().Select(p => p.GetString()!).ToList());
        }

        return models;
    }
}

/// <summary>One corpus model as corpus.json describes it.</summary>
internal sealed record CorpusModel(string Name, string Path, int Opset, long Parameters, double TorchTop1, IReadOnlyList<string> Patterns);
