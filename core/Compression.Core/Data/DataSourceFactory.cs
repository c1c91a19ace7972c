using Compression.Core.Data.Sampling;
using Compression.Core.Data.Sources.Idx;
using Compression.Core.Data.Sources.Images;
using Compression.Core.Data.Sources.NumPy;
using Compression.Core.Data.Sources.OnnxTestData;
using Compression.Core.Data.Sources.Random;
using Compression.Core.Data.Sources.Text;
using Compression.Core.Diagnostics;

namespace Compression.Core.Data;

/// <summary>Builds the data source a recipe's <see cref="DataSetSpec"/> or a cmdlet's <c>-Data</c> path names.</summary>
public static class DataSourceFactory
{
    /// <summary>
    /// Creates the source <paramref name="spec"/> describes. Relative paths resolve against
    /// <paramref name="baseDirectory"/> (the recipe's folder). Missing files fail here with CMP1101.
    /// </summary>
    public static IDataSource Create(DataSetSpec spec, string baseDirectory)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var path = Resolve(spec.Path, baseDirectory);
        var format = spec.Format ?? (path is null
            ? throw DataErrors.Option(null, "A data set needs a path (or format: random).")
            : GuessFormat(path));
        if (format != DataFormat.Random && path is null)
        {
            throw DataErrors.Option(null, $"A {format} data set needs a path.");
        }

        var labels = Resolve(spec.Labels, baseDirectory);
        var selection = SampleSelection.From(spec);
        switch (format)
        {
            case DataFormat.Idx:
                return new IdxDataSource(DataErrors.RequireFile(path!), labels is null ? null : DataErrors.RequireFile(labels, "Labels file"),
                    selection, Normalization.From(spec, path), spec.Name);
            case DataFormat.Text:
                DataErrors.RequireFile(path!);
                return new TextDataSource(path!, new TextOptions(
                    FindVocab(spec, path!, baseDirectory), spec.Column, spec.PairColumns, spec.ScoreColumn,
                    spec.Header ?? false, spec.MaxLength ?? 128, spec.LowerCase ?? true), selection, spec.Name);
            case DataFormat.Npy:
                return NumPyDataSource.FromNpy(DataErrors.RequireFile(path!), labels is null ? null : DataErrors.RequireFile(labels, "Labels file"), selection, spec.Name);
            case DataFormat.Npz:
                // For an archive the labels option names a member, not a file.
                return NumPyDataSource.FromNpz(DataErrors.RequireFile(path!), spec.Labels, selection, spec.Name);
            case DataFormat.OnnxTestData:
                return new OnnxTestDataSource(path!, selection, spec.Name);
            case DataFormat.Images:
                return new ImageFolderDataSource(path!, new ImageOptions(Normalization.From(spec, path),
                    ImageSize.Parse(spec.Resize, "resize", path), ImageSize.Parse(spec.Crop, "crop", path),
                    spec.ChannelOrder ?? ChannelOrder.Rgb, spec.Layout ?? TensorLayout.Nchw, labels), selection, spec.Name);
            case DataFormat.Random:
                return new RandomDataSource(spec.Count ?? 100, selection, spec.Dims, spec.VocabSize, spec.Name);
            default:
                throw new CompressionException(Diagnostic.Error(ErrorCodes.DataFormatUnknown, $"The data format {format} is not known.", path));
        }
    }

    /// <summary>
    /// Creates a source for a bare path, guessing the format: <c>.npy</c>, <c>.npz</c>, IDX (<c>*-ubyte</c>,
    /// <c>.idx</c>, optionally <c>.gz</c>; a labels file beside it named with <c>labels</c> for <c>images</c> is
    /// used), <c>.tsv</c>/<c>.txt</c> text, a folder of <c>test_data_set_N</c> folders (or one), or an images folder.
    /// </summary>
    public static IDataSource FromPath(string path) => Create(Describe(path), System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);

    /// <summary>The data set spec <see cref="FromPath"/> guesses for a bare path, for callers that adjust it first.</summary>
    public static DataSetSpec Describe(string path)
    {
        var full = System.IO.Path.GetFullPath(path);
        var format = GuessFormat(full);
        string? labels = null;
        if (format == DataFormat.Idx)
        {
            var name = System.IO.Path.GetFileName(full);
            var labelsName = name.Replace("images-idx3", "labels-idx1", StringComparison.Ordinal).Replace("images", "labels", StringComparison.Ordinal);
            var candidate = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(full)!, labelsName);
            labels = labelsName != name && File.Exists(candidate) ? candidate : null;
        }

        return new DataSetSpec { Format = format, Path = full, Labels = labels };
    }

    /// <summary>The format a path most likely holds; fails with CMP1101 when it does not exist, CMP1108 when unknown.</summary>
    public static DataFormat GuessFormat(string path)
    {
        if (Directory.Exists(path))
        {
            if (System.IO.Path.GetFileName(System.IO.Path.TrimEndingDirectorySeparator(path)).StartsWith("test_data_set_", StringComparison.Ordinal)
                || Directory.EnumerateDirectories(path, "test_data_set_*").Any())
            {
                return DataFormat.OnnxTestData;
            }

            return DataFormat.Images;
        }

        if (!File.Exists(path))
        {
            throw DataErrors.Missing(path);
        }

        var name = System.IO.Path.GetFileName(path).ToLowerInvariant();
        var stem = name.EndsWith(".gz", StringComparison.Ordinal) ? name[..^3] : name;
        return System.IO.Path.GetExtension(stem) switch
        {
            ".npy" => DataFormat.Npy,
            ".npz" => DataFormat.Npz,
            ".idx" => DataFormat.Idx,
            ".tsv" or ".txt" => DataFormat.Text,
            _ when stem.EndsWith("-ubyte", StringComparison.Ordinal) || stem.Contains("-idx", StringComparison.Ordinal) => DataFormat.Idx,
            _ => throw new CompressionException(Diagnostic.Error(ErrorCodes.DataFormatUnknown,
                $"Cannot tell the data format of '{path}' from its name: use .npy, .npz, an IDX file (*-ubyte[.gz]), .tsv or .txt, " +
                "a folder of images or of test_data_set_N folders, or state the format in the recipe.", path)),
        };
    }

    /// <summary>The vocab option, else vocab.txt beside the data, else in the base folder; CMP1106 when none exists.</summary>
    private static string FindVocab(DataSetSpec spec, string dataPath, string baseDirectory)
    {
        var candidates = spec.Vocab is { } vocab
            ? [Resolve(vocab, baseDirectory)!]
            : new[] { System.IO.Path.Combine(System.IO.Path.GetDirectoryName(dataPath)!, "vocab.txt"), System.IO.Path.Combine(baseDirectory, "vocab.txt") };
        return Array.Find(candidates, File.Exists) ?? throw new CompressionException(Diagnostic.Error(ErrorCodes.DataVocabMissing,
            $"Text data needs a BERT vocab.txt; '{candidates[0]}' does not exist. Set the vocab option to the model's vocab.txt.", candidates[0]));
    }

    private static string? Resolve(string? path, string baseDirectory) =>
        path is null ? null : System.IO.Path.GetFullPath(path, System.IO.Path.GetFullPath(baseDirectory));
}
