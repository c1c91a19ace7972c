using Compression.Core.Data;
using Compression.Core.Data.Sources.Images;
using Compression.Core.Diagnostics;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Tests.Support;

namespace Compression.Core.Tests.Data;

public sealed class ImageFolderDataSourceTests : IDisposable
{
    private static readonly double[] ImageNetMean = [0.485, 0.456, 0.406];
    private static readonly double[] ImageNetStd = [0.229, 0.224, 0.225];

    private readonly string temp = TestAssets.TempDirectory();

    public void Dispose() => Directory.Delete(temp, recursive: true);

    private static string Photos => TestAssets.RequireDirectory(Path.Combine(TestAssets.SharedAssets, "photos"), "photos from ../shared/assets");

    [SkippableFact]
    public void Photos_resize_256_and_crop_224_to_normalized_nchw()
    {
        var model = new ModelSignature([new InputSpec("data", ElementType.Float, [1, 3, 224, 224], [null, null, null, null])], []);
        var source = DataSourceFactory.Create(new DataSetSpec { Path = Photos, Resize = "256", Crop = "224", Mean = ImageNetMean, Std = ImageNetStd }, "/");
        Assert.Equal(7, source.Count);
        var batches = source.ReadBatches(model, 8).ToList();
        Assert.Equal(7, batches.Count);
        foreach (var batch in batches)
        {
            var input = Assert.Single(batch.Inputs);
            Assert.Equal(new long[] { 1, 3, 224, 224 }, input.Shape);
            Assert.Null(batch.Labels);
            var values = (float[])input.Values;
            Assert.All(values, v => Assert.InRange(v, (0 - 0.485f) / 0.225f - 1e-3f, (1 - 0.406f) / 0.225f + 1e-3f));
            Assert.True(values.Max() - values.Min() > 1, "an image of one flat color");
        }
    }

    [SkippableFact]
    public void Nhwc_layout_and_bgr_order_hold_the_same_pixels()
    {
        var nchw = Read(new DataSetSpec { Path = Photos, Take = 1, Resize = "64x48" }, new InputSpec("x", ElementType.Float, [-1, 3, 48, 64], ["n", null, null, null]));
        var nhwc = Read(new DataSetSpec { Path = Photos, Take = 1, Resize = "64x48", Layout = TensorLayout.Nhwc, ChannelOrder = ChannelOrder.Bgr },
            new InputSpec("x", ElementType.Float, [-1, 48, 64, 3], ["n", null, null, null]));
        Assert.Equal(new long[] { 1, 48, 64, 3 }, nhwc.Shape);
        var planar = (float[])nchw.Values;
        var interleaved = (float[])nhwc.Values;
        const int pixels = 48 * 64;
        for (var p = 0; p < pixels; p += 97)
        {
            for (var c = 0; c < 3; c++)
            {
                Assert.Equal(planar[(c * pixels) + p], interleaved[(p * 3) + (2 - c)]);
            }
        }
    }

    [SkippableFact]
    public void Model_size_is_the_default_resize_and_sub_folders_are_classes()
    {
        var photos = Photos;
        foreach (var (name, folder) in new[] { ("astronaut.png", "b_people"), ("rocket.jpg", "a_things"), ("coffee.png", "a_things") })
        {
            Directory.CreateDirectory(Path.Combine(temp, folder));
            File.Copy(Path.Combine(photos, name), Path.Combine(temp, folder, name));
        }

        var batch = DataSourceFactory.FromPath(temp).ReadBatches(DataAssert.Signature("x", ElementType.Float, 3, 32, 32), 8).Single();
        Assert.Equal(new long[] { 3, 3, 32, 32 }, batch.Inputs[0].Shape);
        Assert.Equal(new long[] { 0, 0, 1 }, (long[])batch.Labels!.Values); // a_things/coffee, a_things/rocket, b_people/astronaut
        Assert.All((float[])batch.Inputs[0].Values, v => Assert.InRange(v, 0f, 1f));

        File.WriteAllText(Path.Combine(temp, "labels.tsv"), "b_people/astronaut.png\tperson\nrocket.jpg\t7\ncoffee.png\tcup\n");
        var labelled = DataSourceFactory.Create(new DataSetSpec { Path = ".", Labels = "labels.tsv", Format = DataFormat.Images }, temp)
            .ReadBatches(DataAssert.Signature("x", ElementType.Float, 3, 32, 32), 8).Single();
        Assert.Equal(new long[] { 0, 7, 1 }, (long[])labelled.Labels!.Values); // names sorted: cup 0, person 1
    }

    [SkippableFact]
    public void Shuffle_is_reproducible()
    {
        var spec = new DataSetSpec { Path = Photos, Resize = "8x8", Shuffle = true, Seed = 4 };
        var model = DataAssert.Signature("x", ElementType.Float, 3, 8, 8);
        var first = DataSourceFactory.Create(spec, "/").ReadBatches(model, 1).Select(b => ((float[])b.Inputs[0].Values)[0]).ToList();
        Assert.Equal(first, DataSourceFactory.Create(spec, "/").ReadBatches(model, 1).Select(b => ((float[])b.Inputs[0].Values)[0]));
        Assert.NotEqual(first, DataSourceFactory.Create(spec with { Shuffle = false }, "/").ReadBatches(model, 1).Select(b => ((float[])b.Inputs[0].Values)[0]));
    }

    [Fact]
    public void Bilinear_resize_interpolates_between_pixel_centers()
    {
        float[] source = [0, 10, 20, 30];
        var doubled = new float[16];
        ImageTransforms.ResizeBilinear(source, 2, 2, 1, doubled, 4, 4);
        Assert.Equal([0f, 2.5f, 7.5f, 10f], doubled[..4]);
        Assert.Equal([20f, 22.5f, 27.5f, 30f], doubled[12..]);
    }

    [Fact]
    public void Bad_images_fail_with_data_codes_naming_the_file()
    {
        var model = DataAssert.Signature("x", ElementType.Float, 3, 8, 8);
        File.WriteAllBytes(Path.Combine(temp, "broken.png"), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 1, 2, 3]);
        DataAssert.Throws(ErrorCodes.DataFileCorrupt, "broken.png", () => DataSourceFactory.FromPath(temp).ReadBatches(model, 1).ToList());
        DataAssert.Throws(ErrorCodes.DataOptionInvalid, temp, () => DataSourceFactory.Create(new DataSetSpec { Path = temp, Resize = "big" }, "/"));
        DataAssert.Throws(ErrorCodes.DataOptionInvalid, temp,
            () => DataSourceFactory.Create(new DataSetSpec { Path = temp, Mean = [1, 2] }, "/").ReadBatches(model, 1).ToList());
        var empty = Directory.CreateDirectory(Path.Combine(temp, "empty")).FullName;
        DataAssert.Throws(ErrorCodes.DataSetEmpty, "empty", () => DataSourceFactory.FromPath(empty).ReadBatches(model, 1).ToList());
        DataAssert.Throws(ErrorCodes.DataFileMissing, "nowhere", () => DataSourceFactory.FromPath(Path.Combine(temp, "nowhere")));
        DataAssert.Throws(ErrorCodes.DataFormatUnknown, "data.bin", () =>
        {
            File.WriteAllBytes(Path.Combine(temp, "data.bin"), [1]);
            DataSourceFactory.FromPath(Path.Combine(temp, "data.bin"));
        });
    }

    private static TensorData Read(DataSetSpec spec, InputSpec input) =>
        DataSourceFactory.Create(spec, "/").ReadBatches(new ModelSignature([input], []), 1).Single().Inputs[0];
}
