using Compression.Core.Data;
using Compression.Core.Diagnostics;
using Compression.Core.Evaluation;
using Compression.Core.Onnx;
using Compression.Core.Tests.Support;

namespace Compression.Core.Tests.Quantization;

/// <summary>The real data sets the quantizer tests measure on, and the measurements they share.</summary>
internal static class QuantizationAssets
{
    public static IDataSource StsbTest(string miniLmPath)
    {
        var pairs = TestAssets.Require(Path.Combine(TestAssets.SharedAssets, "stsb", "sts-test.tsv"), "STS-B test set");
        return DataSourceFactory.Create(new DataSetSpec
        {
            Format = DataFormat.Text,
            Path = pairs,
            PairColumns = [5, 6],
            ScoreColumn = 4,
            Vocab = Path.Combine(Path.GetDirectoryName(miniLmPath)!, "vocab.txt"),
        }, Path.GetDirectoryName(pairs)!);
    }

    public static IDataSource MnistTest()
    {
        var folder = Path.Combine(TestAssets.SharedAssets, "mnist");
        TestAssets.Require(Path.Combine(folder, "t10k-images-idx3-ubyte.gz"), "MNIST test images");
        return DataSourceFactory.Create(new DataSetSpec
        {
            Format = DataFormat.Idx,
            Path = "t10k-images-idx3-ubyte.gz",
            Labels = "t10k-labels-idx1-ubyte.gz",
            Scale = 1 / 255.0,
        }, folder);
    }

    public static IDataSource Photos() =>
        DataSourceFactory.Create(new DataSetSpec
        {
            Format = DataFormat.Images,
            Path = TestAssets.RequireDirectory(Path.Combine(TestAssets.SharedAssets, "photos"), "The photos"),
            Resize = "256",
            Crop = "224x224",
            Scale = 1 / 255.0,
            Mean = [0.485, 0.456, 0.406],
            Std = [0.229, 0.224, 0.225],
        }, TestAssets.SharedAssets);

    /// <summary>Saves a MiniLM variant in its own folder with the vocabulary the text data source reads beside the model.</summary>
    public static string SaveBesideVocab(OnnxModel model, string original, string temp, string tag)
    {
        var folder = Path.Combine(temp, tag);
        Directory.CreateDirectory(folder);
        File.Copy(Path.Combine(Path.GetDirectoryName(original)!, "vocab.txt"), Path.Combine(folder, "vocab.txt"));
        var path = Path.Combine(folder, "model.onnx");
        ModelWriter.Save(model, path);
        return path;
    }

    /// <summary>STS-B test Spearman x100 of a MiniLM file, and the candidate's when one is given.</summary>
    public static EvaluationReport Stsb(string reference, string? candidate) =>
        Evaluator.Evaluate(reference, candidate, StsbTest(reference), new EvaluationOptions { BatchSize = 64, Threads = 2 }, new CollectingLog());
}
