using Compression.Core.Data;
using Compression.Core.Diagnostics;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Tests.Support;
using Google.Protobuf;

namespace Compression.Core.Tests.Data;

public sealed class OnnxTestDataSourceTests : IDisposable
{
    private readonly string temp = TestAssets.TempDirectory();

    public void Dispose() => Directory.Delete(temp, recursive: true);

    [SkippableTheory]
    [InlineData("test_abs")]
    [InlineData("test_add")]
    [InlineData("test_gather_0")]
    [InlineData("test_and2d")]
    [InlineData("test_where_example")]
    public void Libonnx_test_data_reads_as_batches_equal_to_the_pb_files(string test)
    {
        var folder = TestAssets.RequireDirectory(Path.Combine(TestAssets.OnnxTestData, "node", test), "libonnx-testdata");
        var model = ModelSignature.Of(ModelLoader.Load(Path.Combine(folder, "model.onnx")));
        var source = DataSourceFactory.FromPath(folder);
        Assert.Equal(1, source.Count);

        var batch = Assert.Single(source.ReadBatches(model, 99));
        Assert.Equal(model.Inputs.Select(i => i.Name), batch.Inputs.Select(i => i.Name));
        for (var k = 0; k < model.Inputs.Count; k++)
        {
            var stored = TensorProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(folder, "test_data_set_0", $"input_{k}.pb")));
            var read = batch.Inputs[k];
            Assert.Equal(stored.Dims, read.Shape);
            Assert.Equal(TensorCodec.ElementTypeOf(stored), read.Type);
            Assert.Equal(TensorCodec.GetRawBytes(stored), RawBytes(read));
        }

        var single = DataSourceFactory.FromPath(Path.Combine(folder, "test_data_set_0")).ReadBatches(model, 1).Single();
        Assert.Equal(RawBytes(batch.Inputs[0]), RawBytes(single.Inputs[0]));
    }

    [Fact]
    public void Data_sets_are_batches_picked_by_skip_take_and_shuffle_and_matched_by_order()
    {
        var model = DataAssert.Signature("x", ElementType.Float, 2);
        for (var n = 0; n < 12; n++)
        {
            WriteSet(n, TensorCodec.FromSingle("unnamed", [1, 2], [n, n], ElementType.Float));
        }

        var source = DataSourceFactory.Create(new DataSetSpec { Path = temp, Skip = 2, Take = 5 }, "/");
        Assert.Equal(5, source.Count);
        Assert.Equal([2f, 3, 4, 5, 6], First(source, model));
        var spec = new DataSetSpec { Format = DataFormat.OnnxTestData, Path = temp, Shuffle = true, Seed = 9, Take = 6 };
        var shuffled = First(DataSourceFactory.Create(spec, "/"), model);
        Assert.Equal(shuffled, First(DataSourceFactory.Create(spec, "/"), model));
        Assert.NotEqual(shuffled, First(DataSourceFactory.Create(spec with { Seed = 10 }, "/"), model));
    }

    [Fact]
    public void Bad_test_data_fails_with_data_codes_naming_the_file()
    {
        var model = DataAssert.Signature("x", ElementType.Float, 2);
        WriteSet(0, TensorCodec.FromSingle("x", [1, 3], [1, 2, 3], ElementType.Float));
        DataAssert.Throws(ErrorCodes.DataShapeMismatch, "input_0.pb", () => DataSourceFactory.FromPath(temp).ReadBatches(model, 1).ToList());

        File.WriteAllBytes(Path.Combine(temp, "test_data_set_0", "input_0.pb"), [0xFF, 0xFF, 0xFF, 0xFF]);
        DataAssert.Throws(ErrorCodes.DataFileCorrupt, "input_0.pb", () => DataSourceFactory.FromPath(temp).ReadBatches(model, 1).ToList());

        var two = new ModelSignature([DataAssert.Input("a", ElementType.Float, 2), DataAssert.Input("b", ElementType.Float, 2)], []);
        WriteSet(0, TensorCodec.FromSingle("x", [1, 2], [1, 2], ElementType.Float));
        DataAssert.Throws(ErrorCodes.DataInputNameMismatch, "test_data_set_0", () => DataSourceFactory.FromPath(temp).ReadBatches(two, 1).ToList());

        var noInputs = Path.Combine(temp, "other", "test_data_set_7");
        Directory.CreateDirectory(noInputs);
        DataAssert.Throws(ErrorCodes.DataInputNameMismatch, "test_data_set_7", () => DataSourceFactory.FromPath(noInputs).ReadBatches(model, 1).ToList());
        DataAssert.Throws(ErrorCodes.DataSetEmpty, "other",
            () => DataSourceFactory.Create(new DataSetSpec { Path = "other", Skip = 1 }, temp).ReadBatches(model, 1).ToList());
    }

    private static byte[] RawBytes(TensorData tensor)
    {
        var bytes = new byte[Buffer.ByteLength(tensor.Values)];
        Buffer.BlockCopy(tensor.Values, 0, bytes, 0, bytes.Length);
        return bytes;
    }

    private static float[] First(IDataSource source, ModelSignature model) =>
        source.ReadBatches(model, 1).Select(b => ((float[])b.Inputs[0].Values)[0]).ToArray();

    private void WriteSet(int n, TensorProto tensor)
    {
        var set = Directory.CreateDirectory(Path.Combine(temp, $"test_data_set_{n}")).FullName;
        File.WriteAllBytes(Path.Combine(set, "input_0.pb"), tensor.ToByteArray());
        File.WriteAllBytes(Path.Combine(set, "output_0.pb"), tensor.ToByteArray());
    }
}
