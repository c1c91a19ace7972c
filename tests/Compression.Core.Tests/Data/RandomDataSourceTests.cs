using Compression.Core.Data;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Tests.Support;

namespace Compression.Core.Tests.Data;

public sealed class RandomDataSourceTests
{
    private static readonly ModelSignature Bert = new(
    [
        new InputSpec("input_ids", ElementType.Int64, [-1, -1], ["batch", "sequence"]),
        new InputSpec("attention_mask", ElementType.Int64, [-1, -1], ["batch", "sequence"]),
        new InputSpec("pixels", ElementType.Float, [-1, 3, -1], ["batch", null, "width"]),
    ], []);

    [Fact]
    public void Same_seed_gives_the_same_values_and_another_seed_differs()
    {
        var first = Values(new DataSetSpec { Seed = 5 });
        Assert.Equal(first, Values(new DataSetSpec { Seed = 5 }));
        Assert.NotEqual(first, Values(new DataSetSpec { Seed = 6 }));
    }

    [Fact]
    public void Shapes_follow_the_model_with_dims_from_options_and_defaults()
    {
        var source = Source(new DataSetSpec { Count = 10, Dims = new Dictionary<string, long> { ["sequence"] = 32 }, VocabSize = 30522 });
        Assert.True(source.IsSynthetic);
        Assert.Equal(10, source.Count);
        var batches = source.ReadBatches(Bert, 4).ToList();
        Assert.Equal([4, 4, 2], batches.Select(b => b.Count));
        Assert.Equal(new long[] { 4, 32 }, batches[0].Inputs[0].Shape);
        Assert.Equal(new long[] { 4, 3, 16 }, batches[0].Inputs[2].Shape);
        var ids = batches.SelectMany(b => (long[])b.Inputs[0].Values).ToArray();
        Assert.All(ids, id => Assert.InRange(id, 0, 30521));
        Assert.Contains(ids, id => id > 1);
        Assert.All(batches.SelectMany(b => (long[])b.Inputs[1].Values), m => Assert.InRange(m, 0, 1));
        Assert.All(batches.SelectMany(b => (float[])b.Inputs[2].Values), v => Assert.InRange(v, 0f, 1f));
    }

    [Fact]
    public void Skip_and_take_pick_the_same_samples_as_reading_them_all()
    {
        var all = Values(new DataSetSpec { Seed = 1, Count = 6 }, batchSize: 1);
        var some = Values(new DataSetSpec { Seed = 1, Count = 6, Skip = 2, Take = 3 }, batchSize: 1);
        var perSample = all.Length / 6;
        Assert.Equal(all[(2 * perSample)..(5 * perSample)], some);
    }

    [SkippableFact]
    public void Mnist8_gets_its_fixed_batch()
    {
        var model = DataAssert.MnistSignature();
        var batches = Source(new DataSetSpec { Count = 3 }).ReadBatches(model, 16).ToList();
        Assert.All(batches, b => Assert.Equal(new long[] { 1, 1, 28, 28 }, b.Inputs[0].Shape));
        Assert.Equal(3, batches.Count);
    }

    private static IDataSource Source(DataSetSpec spec) => DataSourceFactory.Create(spec with { Format = DataFormat.Random }, "/");

    private static float[] Values(DataSetSpec spec, int batchSize = 4) =>
        Source(spec).ReadBatches(Bert, batchSize).SelectMany(b => (float[])b.Inputs[2].Values).ToArray();
}
