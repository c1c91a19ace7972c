using Compression.Core.Data;
using Compression.Core.Diagnostics;
using Compression.Core.Onnx;
using Compression.Core.Passes;
using Compression.Core.Quantization;
using Compression.Core.Quantization.Static;
using Compression.Core.Tests.Support;

namespace Compression.Core.Tests.Quantization.Static;

/// <summary>The real data sets the static quantizer tests calibrate and evaluate on, and a helper that runs the quantizer.</summary>
internal static class StaticTestData
{
    public const string Calibration = "calibration";

    public static string MnistFile(string name) => TestAssets.Require(Path.Combine(TestAssets.SharedAssets, "mnist", name), $"MNIST {name}");

    /// <summary>The MNIST test set, pixels x/255; <paramref name="take"/> null for all 10,000.</summary>
    public static IDataSource Mnist(long? take) => DataSourceFactory.Create(new DataSetSpec
    {
        Format = DataFormat.Idx,
        Path = MnistFile("t10k-images-idx3-ubyte.gz"),
        Labels = MnistFile("t10k-labels-idx1-ubyte.gz"),
        Take = take,
        Name = take is null ? "mnist-test" : $"mnist-first-{take}",
    }, TestAssets.SharedAssets);

    /// <summary>The photos, resized (shorter side), center-cropped and normalized as ImageNet models expect.</summary>
    public static IDataSource Photos(string resize = "256", string? crop = "224", bool imageNet = true) => DataSourceFactory.Create(new DataSetSpec
    {
        Format = DataFormat.Images,
        Path = TestAssets.RequireDirectory(Path.Combine(TestAssets.SharedAssets, "photos"), "The photos"),
        Resize = resize,
        Crop = crop,
        Mean = imageNet ? [0.485, 0.456, 0.406] : [0.5],
        Std = imageNet ? [0.229, 0.224, 0.225] : [0.5],
        Name = "photos",
    }, TestAssets.SharedAssets);

    public static PassResult Quantize(OnnxModel model, QuantizeOptions options, IDataSource? data, ICompressionLog log)
    {
        var context = new PassContext(log) { DataSets = data is null ? new Dictionary<string, IDataSource>() : new Dictionary<string, IDataSource> { [Calibration] = data } };
        return new StaticQuantizer().Quantize(model, options, context);
    }

    public static QuantizeOptions Options(QuantizationFormat format, bool perChannel = true, CalibrationMethod method = CalibrationMethod.MinMax) => new()
    {
        Mode = QuantizationMode.Static,
        Format = format,
        PerChannel = perChannel,
        Calibration = new CalibrationSpec { Data = Calibration, Method = method, Samples = 256 },
    };
}
