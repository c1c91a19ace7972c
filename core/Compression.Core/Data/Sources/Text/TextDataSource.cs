using System.Globalization;
using Compression.Core.Data.Sampling;

namespace Compression.Core.Data.Sources.Text;

/// <summary>
/// Sentences for transformer models from a lines file or a TSV column, or sentence pairs from two TSV columns
/// (each sentence tokenized on its own: the first into <see cref="DataBatch.Inputs"/>, the second into
/// <see cref="DataBatch.PairedInputs"/>), with an optional score column as float labels. Rows are split on tabs
/// with no quoting (STS-B's sentences hold quotes); columns past those used are ignored.
/// </summary>
public sealed class TextDataSource : IDataSource
{
    private readonly string path;
    private readonly TextOptions options;
    private readonly SampleSelection selection;
    private LineIndex? index;

    public TextDataSource(string path, TextOptions options, SampleSelection selection, string? name = null)
    {
        if (options.MaxLength < 2)
        {
            throw DataErrors.Option(path, $"max_length must be at least 2 ([CLS] and [SEP]); got {options.MaxLength}.");
        }

        if (options.PairColumns is { Length: not 2 })
        {
            throw DataErrors.Option(path, $"pair_columns takes two column indices; got {options.PairColumns.Length}.");
        }

        this.path = path;
        this.options = options;
        this.selection = selection;
        Name = name ?? System.IO.Path.GetFileName(path);
    }

    public string Name { get; }

    public bool IsSynthetic => false;

    public long? Count => selection.Count(Index.Count);

    private LineIndex Index => index ??= LineIndex.Build(path, options.Header);

    public IEnumerable<DataBatch> ReadBatches(ModelSignature model, int batchSize, CancellationToken cancellationToken = default)
    {
        var encoder = new BertEncoder(options.VocabPath, options.LowerCase, options.MaxLength, model, path);
        var size = BatchShapes.BatchSize(model, batchSize, path, out var exact);
        selection.RequireSamples(Index.Count, path);
        return Read(encoder, size, exact, cancellationToken);
    }

    private IEnumerable<DataBatch> Read(BertEncoder encoder, int size, bool exact, CancellationToken cancellationToken)
    {
        using var stream = DataErrors.Open(path);
        foreach (var rows in Batcher.Chunk(selection.Indices(Index.Count), size, exact, cancellationToken))
        {
            var first = new List<int[]>(rows.Count);
            var second = options.PairColumns is null ? null : new List<int[]>(rows.Count);
            var scores = options.ScoreColumn is null ? null : new float[rows.Count];
            for (var i = 0; i < rows.Count; i++)
            {
                var (line, number) = Index.Read(stream, rows[i]);
                var columns = options.Column is null && options.PairColumns is null && options.ScoreColumn is null ? [line] : line.Split('\t');
                if (options.PairColumns is { } pair)
                {
                    first.Add(encoder.Encode(Column(columns, pair[0], number)));
                    second!.Add(encoder.Encode(Column(columns, pair[1], number)));
                }
                else
                {
                    first.Add(encoder.Encode(options.Column is { } column ? Column(columns, column, number) : line));
                }

                if (options.ScoreColumn is { } scoreColumn)
                {
                    var text = Column(columns, scoreColumn, number);
                    if (!float.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out scores![i]))
                    {
                        throw DataErrors.Corrupt(path, $"Line {number}: the score column {scoreColumn} holds '{text}', not a number.", number);
                    }
                }
            }

            yield return new DataBatch(
                rows.Count,
                encoder.Tensors(first),
                scores is null ? null : TensorData.Float("scores", [rows.Count], scores),
                second is null ? null : encoder.Tensors(second));
        }
    }

    private string Column(string[] columns, int column, int lineNumber) =>
        column < columns.Length
            ? columns[column]
            : throw DataErrors.Corrupt(path, $"Line {lineNumber} has {columns.Length} tab-separated columns; column {column} (0-based) was asked for.", lineNumber);
}
