using System.IO.Compression;
using Compression.Core.Data;
using Compression.Core.Diagnostics;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Tests.Support;
using Microsoft.ML.OnnxRuntime;

namespace Compression.Core.Tests.Data;

public sealed class IdxDataSourceTests : IDisposable
{
    private readonly string temp = TestAssets.TempDirectory();

    public void Dispose() => Directory.Delete(temp, recursive: true);

    [SkippableFact]
    public void Mnist_test_set_reads_10000_scaled_samples_shaped_for_mnist8()
    {
        var model = DataAssert.MnistSignature();
        var source = Mnist();
        Assert.Equal(10_000, source.Count);

        var samples = 0;
        var first = true;
        foreach (var batch in source.ReadBatches(model, batchSize: 32))
        {
            var input = Assert.Single(batch.Inputs);
            Assert.Equal(new long[] { 1, 1, 28, 28 }, input.Shape);
            Assert.Equal(model.Inputs[0].Name, input.Name);
            var pixels = (float[])input.Values;
            Assert.All(pixels, p => Assert.InRange(p, 0f, 1f));
            if (first)
            {
                Assert.Equal(7L, ((long[])batch.Labels!.Values)[0]);
                Assert.Contains(pixels, p => p == 1f);
                first = false;
            }

            samples += batch.Count;
        }

        Assert.Equal(10_000, samples);
    }

    [SkippableFact]
    public void Mnist8_classifies_the_first_1000_images_with_at_least_97_percent_accuracy()
    {
        var model = DataAssert.MnistSignature();
        using var options = new SessionOptions { IntraOpNumThreads = 1, LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL };
        using var session = new InferenceSession(TestAssets.Mnist, options);
        var correct = 0;
        var total = 0;
        foreach (var batch in Mnist(new DataSetSpec { Take = 1000 }).ReadBatches(model, batchSize: 1))
        {
            var input = batch.Inputs[0];
            using var value = OrtValue.CreateTensorValueFromMemory((float[])input.Values, input.Shape);
            using var outputs = session.Run(new RunOptions(), [input.Name], [value], session.OutputNames);
            var scores = outputs[0].GetTensorDataAsSpan<float>();
            var predicted = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(scores);
            correct += predicted == ((long[])batch.Labels!.Values)[0] ? 1 : 0;
            total++;
        }

        Assert.Equal(1000, total);
        Assert.True(correct / (double)total >= 0.97, $"accuracy {correct / (double)total:P1}");
    }

    [SkippableFact]
    public void Fashion_mnist_reads_with_labels()
    {
        var folder = TestAssets.RequireDirectory("/usr/share/datasets/fashion-mnist", "Fashion-MNIST");
        var source = DataSourceFactory.FromPath(Path.Combine(folder, "t10k-images-idx3-ubyte.gz"));
        var batches = source.ReadBatches(DataAssert.Signature("x", ElementType.Float, 784), 100).Take(3).ToList();
        Assert.Equal(10_000, source.Count);
        Assert.All(batches, b => Assert.Equal(new long[] { 100, 784 }, b.Inputs[0].Shape));
        Assert.All(batches, b => Assert.All((long[])b.Labels!.Values, l => Assert.InRange(l, 0, 9)));
    }

    [SkippableFact]
    public void Skip_take_and_shuffle_are_reproducible_streamed_and_seeked()
    {
        TestAssets.Require(DataAssert.MnistImages, "MNIST test images");
        var plainImages = Decompress(DataAssert.MnistImages, "images-idx3-ubyte");
        var plainLabels = Decompress(DataAssert.MnistLabels, "labels-idx1-ubyte");
        foreach (var (images, labels) in new[] { (DataAssert.MnistImages, DataAssert.MnistLabels), (plainImages, plainLabels) })
        {
            var unshuffled = Labels(images, labels, new DataSetSpec { Skip = 1, Take = 5 });
            Assert.Equal(Labels(DataAssert.MnistImages, DataAssert.MnistLabels, new DataSetSpec { Take = 6 })[1..], unshuffled);

            var spec = new DataSetSpec { Skip = 10, Take = 200, Shuffle = true, Seed = 3 };
            var shuffled = Labels(images, labels, spec);
            Assert.Equal(200, shuffled.Length);
            Assert.Equal(shuffled, Labels(images, labels, spec));
            Assert.NotEqual(shuffled, Labels(images, labels, spec with { Seed = 4 }));
            Assert.NotEqual(Labels(images, labels, spec with { Shuffle = false }), shuffled);
        }
    }

    [SkippableFact]
    public void Flat_models_get_784_values_and_a_fixed_batch_gets_exact_batches()
    {
        TestAssets.Require(DataAssert.MnistImages, "MNIST test images");
        var flat = Mnist(new DataSetSpec { Take = 10 }).ReadBatches(DataAssert.Signature("x", ElementType.Float, 784), 4).ToList();
        Assert.Equal([4, 4, 2], flat.Select(b => b.Count));
        Assert.Equal(new long[] { 2, 784 }, flat[2].Inputs[0].Shape);

        var fixedBatch = new ModelSignature([new InputSpec("x", ElementType.Float, [4, 784], [null, null])], []);
        Assert.Equal([4, 4], Mnist(new DataSetSpec { Take = 10 }).ReadBatches(fixedBatch, 1).Select(b => b.Count));
    }

    [SkippableFact]
    public void Normalization_applies_scale_mean_and_std()
    {
        TestAssets.Require(DataAssert.MnistImages, "MNIST test images");
        var model = DataAssert.Signature("x", ElementType.Float, 784);
        var raw = (float[])Mnist(new DataSetSpec { Take = 1, Scale = 1 }).ReadBatches(model, 1).Single().Inputs[0].Values;
        var normalized = (float[])Mnist(new DataSetSpec { Take = 1, Mean = [0.1307], Std = [0.3081] }).ReadBatches(model, 1).Single().Inputs[0].Values;
        Assert.Equal(255f, raw.Max());
        for (var i = 0; i < raw.Length; i++)
        {
            Assert.Equal((raw[i] / 255 - 0.1307) / 0.3081, normalized[i], 4);
        }
    }

    [Fact]
    public void Bad_inputs_fail_with_data_codes_naming_the_file()
    {
        var model = DataAssert.Signature("x", ElementType.Float, 4);
        DataAssert.Throws(ErrorCodes.DataFileMissing, "none-ubyte", () => DataSourceFactory.Create(new DataSetSpec { Format = DataFormat.Idx, Path = "none-ubyte" }, temp));

        var notIdx = Path.Combine(temp, "bad-ubyte");
        File.WriteAllBytes(notIdx, [0x89, 0x50, 0x4E, 0x47, 0, 0, 0, 0]);
        DataAssert.Throws(ErrorCodes.DataFileCorrupt, "bad-ubyte", () => DataSourceFactory.FromPath(notIdx).ReadBatches(model, 1).ToList());

        var images = WriteIdx("images-ubyte", [0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 4, 1, 2, 3, 4, 5, 6, 7, 8]);
        var labels = WriteIdx("labels-ubyte", [0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3]);
        DataAssert.Throws(ErrorCodes.DataShapeMismatch, "labels-ubyte", () => Idx(images, labels).ReadBatches(model, 1).ToList());
        DataAssert.Throws(ErrorCodes.DataShapeMismatch, "images-ubyte", () => Idx(images, null).ReadBatches(DataAssert.Signature("x", ElementType.Float, 5), 1).ToList());
        DataAssert.Throws(ErrorCodes.DataSetEmpty, "images-ubyte", () => Idx(images, null, new DataSetSpec { Skip = 2 }).ReadBatches(model, 1).ToList());
        var twoInputs = new ModelSignature([DataAssert.Input("a", ElementType.Float, 4), DataAssert.Input("b", ElementType.Float, 4)], []);
        DataAssert.Throws(ErrorCodes.DataInputNameMismatch, "images-ubyte", () => Idx(images, null).ReadBatches(twoInputs, 1).ToList());

        var truncated = WriteIdx("short-ubyte", [0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 4, 1, 2, 3]);
        DataAssert.Throws(ErrorCodes.DataFileCorrupt, "short-ubyte", () => Idx(truncated, null).ReadBatches(model, 1).ToList());

        var read = Idx(images, null).ReadBatches(model, 2).Single();
        Assert.Equal(new float[] { 1, 2, 3, 4, 5, 6, 7, 8 }, ((float[])read.Inputs[0].Values).Select(v => MathF.Round(v * 255)));
    }

    private static IDataSource Mnist(DataSetSpec? spec = null) =>
        DataSourceFactory.Create((spec ?? new DataSetSpec()) with
        {
            Path = TestAssets.Require(DataAssert.MnistImages, "MNIST test images"),
            Labels = TestAssets.Require(DataAssert.MnistLabels, "MNIST test labels"),
        }, "/");

    private IDataSource Idx(string images, string? labels, DataSetSpec? spec = null) =>
        DataSourceFactory.Create((spec ?? new DataSetSpec()) with { Format = DataFormat.Idx, Path = images, Labels = labels }, temp);

    private static long[] Labels(string images, string labels, DataSetSpec spec) =>
        DataSourceFactory.Create(spec with { Path = images, Labels = labels }, "/")
            .ReadBatches(DataAssert.Signature("x", ElementType.Float, 784), 64)
            .SelectMany(b => (long[])b.Labels!.Values).ToArray();

    private string WriteIdx(string name, byte[] bytes)
    {
        var path = Path.Combine(temp, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private string Decompress(string gzipped, string name)
    {
        var path = Path.Combine(temp, name);
        using var input = new GZipStream(File.OpenRead(gzipped), CompressionMode.Decompress);
        using var output = File.Create(path);
        input.CopyTo(output);
        return path;
    }
}
