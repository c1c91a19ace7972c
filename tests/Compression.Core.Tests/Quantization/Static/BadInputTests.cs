using Compression.Core.Data;
using Compression.Core.Diagnostics;
using Compression.Core.Onnx;
using Compression.Core.Quantization;
using Compression.Core.Tests.Support;

namespace Compression.Core.Tests.Quantization.Static;

/// <summary>Each refusal comes with its code, before any model is produced.</summary>
public sealed class BadInputTests : IDisposable
{
    private readonly string folder = TestAssets.TempDirectory();

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [SkippableFact]
    public void No_calibration_is_CMP3204()
    {
        var model = ModelLoader.Load(TestAssets.Require(TestAssets.Mnist, "mnist-8"));
        var options = StaticTestData.Options(QuantizationFormat.Qdq) with { Calibration = null };
        Assert.Equal(ErrorCodes.CalibrationDataMissing, Fail(model, options, StaticTestData.Mnist(16)).Code);

        // Naming a data set the recipe does not define is the same mistake.
        var unknown = StaticTestData.Options(QuantizationFormat.Qdq) with { Calibration = new CalibrationSpec { Data = "nope" } };
        var error = Fail(model, unknown, StaticTestData.Mnist(16));
        Assert.Equal(ErrorCodes.CalibrationDataMissing, error.Code);
        Assert.Contains("'nope'", error.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void An_empty_data_set_is_CMP3206()
    {
        var model = ModelLoader.Load(TestAssets.Require(TestAssets.Mnist, "mnist-8"));
        var empty = DataSourceFactory.Create(new DataSetSpec
        {
            Format = DataFormat.Idx,
            Path = StaticTestData.MnistFile("t10k-images-idx3-ubyte.gz"),
            Skip = 20_000,
        }, folder);
        Assert.Equal(ErrorCodes.CalibrationDataEmpty, Fail(model, StaticTestData.Options(QuantizationFormat.Qdq), empty).Code);
    }

    [SkippableFact]
    public void Data_that_does_not_fit_the_model_is_CMP3205()
    {
        var model = ModelLoader.Load(TestAssets.Require(TestAssets.Mnist, "mnist-8"));
        var path = Path.Combine(folder, "wrong.npy");
        File.WriteAllBytes(path, NpyWriter.Npy(new float[4 * 3 * 10 * 10], [4, 3, 10, 10], "<f4"));
        var wrong = DataSourceFactory.Create(new DataSetSpec { Path = path }, folder);
        var error = Fail(model, StaticTestData.Options(QuantizationFormat.Qdq), wrong);
        Assert.Equal(ErrorCodes.CalibrationDataMismatch, error.Code);
    }

    [SkippableFact]
    public void An_already_quantized_model_is_CMP3201()
    {
        var model = ModelLoader.Load(TestAssets.Require(TestAssets.Mnist, "mnist-8"));
        var quantized = StaticTestData.Quantize(model, StaticTestData.Options(QuantizationFormat.Qdq), StaticTestData.Mnist(16), new CollectingLog()).Model;
        var error = Fail(quantized, StaticTestData.Options(QuantizationFormat.Qdq), StaticTestData.Mnist(16));
        Assert.Equal(ErrorCodes.AlreadyQuantized, error.Code);
        Assert.Contains("already quantized", error.Message, StringComparison.Ordinal);
    }

    private static CompressionException Fail(OnnxModel model, QuantizeOptions options, IDataSource data) =>
        Assert.Throws<CompressionException>(() => StaticTestData.Quantize(model, options, data, new CollectingLog()));
}
