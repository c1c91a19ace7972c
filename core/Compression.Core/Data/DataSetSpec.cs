using Compression.Core.Options;
using Compression.Core.Passes;

namespace Compression.Core.Data;

/// <summary>
/// The options of one data set as a recipe states them. Every property is optional; each maps to the
/// snake_case recipe key of its name (<c>MaxLength</c> ↔ <c>max_length</c>). Options a format does not use are
/// ignored by it. Relative paths resolve against the recipe's folder.
/// </summary>
public sealed record DataSetSpec
{
    /// <summary>The format; when absent it is guessed from <see cref="Path"/> as <see cref="DataSourceFactory.FromPath"/> does.</summary>
    [Option("The format; when absent it is guessed from Path as FromPath does.")]
    public DataFormat? Format { get; init; }

    /// <summary>A display name for reports; defaults to the file or folder name.</summary>
    [Option("A display name for reports; defaults to the file or folder name.")]
    public string? Name { get; init; }

    /// <summary>
    /// The data: the <c>.npy</c>/<c>.npz</c> file, the IDX images file, the images folder, the lines or TSV file,
    /// or a folder holding <c>test_data_set_N</c> folders (or one such folder). Not used by <see cref="DataFormat.Random"/>.
    /// </summary>
    [Option("The data: the .npy/.npz file, the IDX images file, the images folder, the lines or TSV file, or a folder holding test_data_set_N folders (or one such folder). Not used by Random.")]
    public string? Path { get; init; }

    /// <summary>
    /// Labels: for <c>.npz</c> the member that holds them; for <c>.npy</c> and IDX a labels file; for images a
    /// file of <c>file&lt;TAB&gt;label</c> lines (without it, sub-folder names are the classes).
    /// </summary>
    [Option("Labels: for .npz the member that holds them; for .npy and IDX a labels file; for images a file of file<TAB>label lines (without it, sub-folder names are the classes).")]
    public string? Labels { get; init; }

    /// <summary>Samples to pass over first (after shuffling, when <see cref="Shuffle"/> is on). Default 0.</summary>
    [Option("Samples to pass over first (after shuffling, when Shuffle is on). Default 0.")]
    public long? Skip { get; init; }

    /// <summary>The most samples to read (after <see cref="Skip"/>). Default: all.</summary>
    [Option("The most samples to read (after Skip). Default: all.")]
    public long? Take { get; init; }

    /// <summary>Seed of the shuffle and of random values: the same seed gives the same samples in the same order. Default 0.</summary>
    [Option("Seed of the shuffle and of random values: the same seed gives the same samples in the same order. Default 0.")]
    public int? Seed { get; init; }

    /// <summary>
    /// Reads the samples in a seeded random order. Formats that can seek (npy, uncompressed IDX, images, text,
    /// test-data folders) shuffle the whole set's indices; streamed ones (gzipped IDX, npz) shuffle within a window
    /// of <see cref="ShuffleWindow"/> samples. Default false.
    /// </summary>
    [Option("Reads the samples in a seeded random order. Formats that can seek (npy, uncompressed IDX, images, text, test-data folders) shuffle the whole set's indices; streamed ones (gzipped IDX, npz) shuffle within a window of ShuffleWindow samples. Default false.")]
    public bool? Shuffle { get; init; }

    /// <summary>Samples held at once when shuffling a stream that cannot seek. Default 1024.</summary>
    [Option("Samples held at once when shuffling a stream that cannot seek. Default 1024.")]
    public int? ShuffleWindow { get; init; }

    /// <summary>Pixel scale applied before <see cref="Mean"/> and <see cref="Std"/> (IDX, images). Default 1/255: values in [0, 1].</summary>
    [Option("Pixel scale applied before Mean and Std (IDX, images). Default 1/255: values in [0, 1].")]
    public double? Scale { get; init; }

    /// <summary>Subtracted after scaling: one value, or one per channel (IDX, images). Default 0.</summary>
    [Option("Subtracted after scaling: one value, or one per channel (IDX, images). Default 0.")]
    public double[]? Mean { get; init; }

    /// <summary>Divides after subtracting the mean: one value, or one per channel (IDX, images). Default 1.</summary>
    [Option("Divides after subtracting the mean: one value, or one per channel (IDX, images). Default 1.")]
    public double[]? Std { get; init; }

    /// <summary>
    /// Image resize, bilinear: <c>"256"</c> scales the shorter side to 256 keeping the aspect ratio, <c>"320x240"</c>
    /// gives exactly width 320 and height 240. Default: the model's height and width when it declares them and no
    /// <see cref="Crop"/> is given, otherwise none.
    /// </summary>
    [Option("Image resize, bilinear: \"256\" scales the shorter side to 256 keeping the aspect ratio, \"320x240\" gives exactly width 320 and height 240. Default: the model's height and width when it declares them and no Crop is given, otherwise none.")]
    public string? Resize { get; init; }

    /// <summary>Center crop after resizing: <c>"224"</c> (square) or <c>"WIDTHxHEIGHT"</c> as in <see cref="Resize"/>.</summary>
    [Option("Center crop after resizing: \"224\" (square) or \"WIDTHxHEIGHT\" as in Resize.")]
    public string? Crop { get; init; }

    /// <summary>Color channel order of image models. Default RGB.</summary>
    [Option("Color channel order of image models. Default RGB.")]
    public ChannelOrder? ChannelOrder { get; init; }

    /// <summary>Where image models keep channels. Default NCHW.</summary>
    [Option("Where image models keep channels. Default NCHW.")]
    public TensorLayout? Layout { get; init; }

    /// <summary>Text: the 0-based TSV column holding the text. Default: the whole line (a lines file).</summary>
    [Option("Text: the 0-based TSV column holding the text. Default: the whole line (a lines file).")]
    public int? Column { get; init; }

    /// <summary>Text: the two 0-based TSV columns of a sentence pair (sentence 1, sentence 2); each is tokenized separately.</summary>
    [Option("Text: the two 0-based TSV columns of a sentence pair (sentence 1, sentence 2); each is tokenized separately.")]
    public int[]? PairColumns { get; init; }

    /// <summary>Text: the 0-based TSV column of a score, read as float labels (e.g. STS-B's similarity 0-5).</summary>
    [Option("Text: the 0-based TSV column of a score, read as float labels (e.g. STS-B's similarity 0-5).")]
    public int? ScoreColumn { get; init; }

    /// <summary>Text: the first line is a header and is not read. Default false.</summary>
    [Option("Text: the first line is a header and is not read. Default false.")]
    public bool? Header { get; init; }

    /// <summary>Text: the BERT WordPiece <c>vocab.txt</c>. Default: <c>vocab.txt</c> beside the data file, then in the recipe's folder.</summary>
    [Option("Text: the BERT WordPiece vocab.txt. Default: vocab.txt beside the data file, then in the recipe's folder.")]
    public string? Vocab { get; init; }

    /// <summary>Text: tokens per sequence including [CLS] and [SEP]; longer text is truncated. Default 128.</summary>
    [Option("Text: tokens per sequence including [CLS] and [SEP]; longer text is truncated. Default 128.")]
    public int? MaxLength { get; init; }

    /// <summary>Text: lower-case before WordPiece (uncased vocabularies). Default true.</summary>
    [Option("Text: lower-case before WordPiece (uncased vocabularies). Default true.")]
    public bool? LowerCase { get; init; }

    /// <summary>Random: samples to draw. Default 100.</summary>
    [Option("Random: samples to draw. Default 100.")]
    public long? Count { get; init; }

    /// <summary>
    /// Random: values of symbolic dims other than the batch, by symbol name (e.g. <c>sequence: 64</c>) or by
    /// input name for all of its symbolic dims. Default 16.
    /// </summary>
    [Option("Random: values of symbolic dims other than the batch, by symbol name (e.g. sequence: 64) or by input name for all of its symbolic dims. Default 16.")]
    public IReadOnlyDictionary<string, long>? Dims { get; init; }

    /// <summary>Random: token ids of inputs named like <c>input_ids</c> are drawn from [0, vocab_size). Default: [0, 2).</summary>
    [Option("Random: token ids of inputs named like input_ids are drawn from [0, vocab_size). Default: [0, 2).")]
    public long? VocabSize { get; init; }
}
