using System.IO.Compression;
using Compression.Core.Data;
using Compression.Core.Diagnostics;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Tests.Support;

namespace Compression.Core.Tests.Data;

public sealed class NumPyDataSourceTests : IDisposable
{
    private static readonly ModelSignature TwoInputs = new(
        [DataAssert.Input("pixels", ElementType.Float, 2, 3), DataAssert.Input("ids", ElementType.Int64, 4)], []);

    private readonly string temp = TestAssets.TempDirectory();

    public void Dispose() => Directory.Delete(temp, recursive: true);

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Npy_round_trips_values_and_labels_in_every_format_version(int major)
    {
        var values = Enumerable.Range(0, 5 * 6).Select(i => i * 0.5f).ToArray();
        var data = Write("x.npy", NpyWriter.Npy(values, [5, 2, 3], "<f4", major));
        var labels = Write("y.npy", NpyWriter.Npy(new long[] { 3, 1, 4, 1, 5 }, [5], "<i8", major));
        var source = DataSourceFactory.Create(new DataSetSpec { Path = "x.npy", Labels = "y.npy" }, temp);
        Assert.Equal(5, source.Count);

        var batches = source.ReadBatches(DataAssert.Signature("x", ElementType.Float, 6), 2).ToList();
        Assert.Equal([2, 2, 1], batches.Select(b => b.Count));
        Assert.Equal(new long[] { 2, 6 }, batches[0].Inputs[0].Shape);
        Assert.Equal(values, batches.SelectMany(b => (float[])b.Inputs[0].Values));
        Assert.Equal(new long[] { 3, 1, 4, 1, 5 }, batches.SelectMany(b => (long[])b.Labels!.Values));
    }

    [Fact]
    public void Npy_dtypes_convert_to_the_model_input_type()
    {
        Write("d.npy", NpyWriter.Npy(new double[] { 1.5, -2, 3, 4 }, [2, 2], "<f8"));
        Assert.Equal(new float[] { 1.5f, -2, 3, 4 }, Read("d.npy", DataAssert.Signature("x", ElementType.Float, 2)));
        Write("h.npy", NpyWriter.Npy(new[] { (Half)1, (Half)2.5 }, [2], "<f2", major: 2));
        Assert.Equal(new float[] { 1, 2.5f }, Read("h.npy", DataAssert.Signature("x", ElementType.Float)));
        Write("b.npy", NpyWriter.Npy(new byte[] { 1, 0, 1 }, [3, 1], "|b1"));
        Assert.Equal(new byte[] { 1, 0, 1 }, DataSourceFactory.Create(new DataSetSpec { Path = "b.npy" }, temp)
            .ReadBatches(DataAssert.Signature("x", ElementType.Bool, 1), 4).Single().Inputs[0].Values);
        Write("u.npy", NpyWriter.Npy(new ushort[] { 7, 65535 }, [2], "<u2"));
        Assert.Equal(new long[] { 7, 65535 }, DataSourceFactory.Create(new DataSetSpec { Path = "u.npy" }, temp)
            .ReadBatches(DataAssert.Signature("x", ElementType.Int64), 4).Single().Inputs[0].Values);
    }

    [Theory]
    [InlineData(CompressionLevel.NoCompression)]
    [InlineData(CompressionLevel.Optimal)]
    public void Npz_matches_members_by_name_with_labels(CompressionLevel level)
    {
        var pixels = Enumerable.Range(0, 4 * 6).Select(i => (float)i).ToArray();
        NpyWriter.Npz(Path.Combine(temp, "set.npz"), level,
            ("ids", NpyWriter.Npy(Enumerable.Range(0, 16).Select(i => (int)i).ToArray(), [4, 4], "<i4")),
            ("label", NpyWriter.Npy(new long[] { 0, 1, 2, 3 }, [4], "<i8")),
            ("pixels", NpyWriter.Npy(pixels, [4, 2, 3], "<f4")));
        var source = DataSourceFactory.Create(new DataSetSpec { Path = "set.npz", Labels = "label" }, temp);
        var batches = source.ReadBatches(TwoInputs, 3).ToList();
        Assert.Equal(["pixels", "ids"], batches[0].Inputs.Select(i => i.Name));
        Assert.Equal(new long[] { 3, 2, 3 }, batches[0].Inputs[0].Shape);
        Assert.Equal(pixels, batches.SelectMany(b => (float[])b.Inputs[0].Values));
        Assert.Equal(Enumerable.Range(0, 16).Select(i => (long)i), batches.SelectMany(b => (long[])b.Inputs[1].Values));
        Assert.Equal(new long[] { 0, 1, 2, 3 }, batches.SelectMany(b => (long[])b.Labels!.Values));
    }

    [Fact]
    public void Npz_matches_members_by_order_when_names_differ_and_shuffles_reproducibly()
    {
        NpyWriter.Npz(Path.Combine(temp, "order.npz"), CompressionLevel.Fastest,
            ("arr_0", NpyWriter.Npy(Enumerable.Range(0, 60 * 6).Select(i => (float)(i / 6)).ToArray(), [60, 6], "<f4")),
            ("arr_1", NpyWriter.Npy(Enumerable.Range(0, 60 * 4).Select(i => (long)(i / 4)).ToArray(), [60, 4], "<i8")));
        var spec = new DataSetSpec { Path = "order.npz", Shuffle = true, Seed = 2, ShuffleWindow = 16, Skip = 5, Take = 30 };
        var order = FirstValues(spec);
        Assert.Equal(30, order.Length);
        Assert.Equal(30, order.Distinct().Count());
        Assert.Equal(order, FirstValues(spec));
        Assert.NotEqual(order, FirstValues(spec with { Seed = 3 }));
        Assert.Equal(Enumerable.Range(5, 30).Select(i => (float)i), FirstValues(spec with { Shuffle = false }));

        Write("seek.npy", NpyWriter.Npy(Enumerable.Range(0, 60).Select(i => (float)i).ToArray(), [60, 1], "<f4"));
        var seeked = DataSourceFactory.Create(spec with { Path = "seek.npy" }, temp).ReadBatches(DataAssert.Signature("x", ElementType.Float, 1), 7)
            .SelectMany(b => (float[])b.Inputs[0].Values).ToArray();
        Assert.Equal(30, seeked.Distinct().Count());
        Assert.NotEqual(Enumerable.Range(5, 30).Select(i => (float)i), seeked);
    }

    [Fact]
    public void Bad_arrays_fail_with_data_codes_naming_the_file()
    {
        var model = DataAssert.Signature("x", ElementType.Float, 3);
        Write("shape.npy", NpyWriter.Npy(new float[8], [2, 4], "<f4"));
        DataAssert.Throws(ErrorCodes.DataShapeMismatch, "shape.npy", () => Read("shape.npy", model));

        Write("fortran.npy", NpyWriter.Npy(new float[6], [2, 3], "<f4", fortranOrder: true));
        Assert.Contains("Fortran", DataAssert.Throws(ErrorCodes.DataTypeUnsupported, "fortran.npy", () => Read("fortran.npy", model)).Message);
        Write("big.npy", NpyWriter.Npy(new float[6], [2, 3], ">f4"));
        Assert.Contains("big-endian", DataAssert.Throws(ErrorCodes.DataTypeUnsupported, "big.npy", () => Read("big.npy", model)).Message);
        Write("complex.npy", NpyWriter.Npy(new float[12], [2, 3], "<c8"));
        DataAssert.Throws(ErrorCodes.DataTypeUnsupported, "complex.npy", () => Read("complex.npy", model));

        Write("garbage.npy", "not numpy at all"u8.ToArray());
        DataAssert.Throws(ErrorCodes.DataFileCorrupt, "garbage.npy", () => Read("garbage.npy", model));
        var truncated = NpyWriter.Npy(new float[6], [2, 3], "<f4");
        Write("short.npy", truncated[..^4]);
        DataAssert.Throws(ErrorCodes.DataFileCorrupt, "short.npy", () => Read("short.npy", model));
        Write("notzip.npz", "PK but not really"u8.ToArray());
        DataAssert.Throws(ErrorCodes.DataFileCorrupt, "notzip.npz", () => Read("notzip.npz", model));

        Write("ok.npy", NpyWriter.Npy(new float[6], [2, 3], "<f4"));
        Write("labels.npy", NpyWriter.Npy(new long[3], [3], "<i8"));
        DataAssert.Throws(ErrorCodes.DataShapeMismatch, "labels.npy",
            () => DataSourceFactory.Create(new DataSetSpec { Path = "ok.npy", Labels = "labels.npy" }, temp).ReadBatches(model, 2).ToList());
        DataAssert.Throws(ErrorCodes.DataFileMissing, "nope.npy", () => DataSourceFactory.Create(new DataSetSpec { Path = "ok.npy", Labels = "nope.npy" }, temp));
        DataAssert.Throws(ErrorCodes.DataSetEmpty, "ok.npy", () => DataSourceFactory.Create(new DataSetSpec { Path = "ok.npy", Take = 0 }, temp).ReadBatches(model, 2).ToList());

        NpyWriter.Npz(Path.Combine(temp, "names.npz"), CompressionLevel.Optimal,
            ("a", NpyWriter.Npy(new float[6], [1, 6], "<f4")), ("b", NpyWriter.Npy(new float[6], [1, 6], "<f4")), ("c", NpyWriter.Npy(new float[6], [1, 6], "<f4")));
        DataAssert.Throws(ErrorCodes.DataInputNameMismatch, "names.npz", () => Read("names.npz", TwoInputs));
        DataAssert.Throws(ErrorCodes.DataInputNameMismatch, "names.npz",
            () => DataSourceFactory.Create(new DataSetSpec { Path = "names.npz", Labels = "y" }, temp).ReadBatches(model, 1).ToList());
    }

    private string Write(string name, byte[] bytes)
    {
        var path = Path.Combine(temp, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private float[] Read(string name, ModelSignature model) =>
        DataSourceFactory.Create(new DataSetSpec { Path = name }, temp).ReadBatches(model, 4).SelectMany(b => (float[])b.Inputs[0].Values).ToArray();

    private float[] FirstValues(DataSetSpec spec) =>
        DataSourceFactory.Create(spec, temp).ReadBatches(TwoInputs with { Inputs = [DataAssert.Input("x", ElementType.Float, 6), DataAssert.Input("y", ElementType.Int64, 4)] }, 7)
            .SelectMany(b => ((float[])b.Inputs[0].Values).Where((_, i) => i % 6 == 0)).ToArray();
}
