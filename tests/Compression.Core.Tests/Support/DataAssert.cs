using Compression.Core.Data;
using Compression.Core.Diagnostics;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Tensors;

namespace Compression.Core.Tests.Support;

/// <summary>Helpers of the data-source tests: model signatures, reading everything, and asserting CMP11xx errors.</summary>
public static class DataAssert
{
    public static string MnistImages => Path.Combine(TestAssets.SharedAssets, "mnist", "t10k-images-idx3-ubyte.gz");

    public static string MnistLabels => Path.Combine(TestAssets.SharedAssets, "mnist", "t10k-labels-idx1-ubyte.gz");

    public static ModelSignature MnistSignature() =>
        ModelSignature.Of(ModelLoader.Load(TestAssets.Require(TestAssets.Mnist, "mnist-8 from ../shared/assets")));

    /// <summary>A one-input signature with a free batch dim.</summary>
    public static ModelSignature Signature(string name, ElementType type, params long[] dimsAfterBatch) =>
        new([Input(name, type, dimsAfterBatch)], []);

    public static InputSpec Input(string name, ElementType type, params long[] dimsAfterBatch) =>
        new(name, type, [-1, .. dimsAfterBatch], ["batch", .. dimsAfterBatch.Select(d => d > 0 ? null : "dim")]);

    public static List<DataBatch> ReadAll(IDataSource source, ModelSignature model, int batchSize = 8) =>
        source.ReadBatches(model, batchSize).ToList();

    /// <summary>Asserts that <paramref name="action"/> fails with <paramref name="code"/> naming a file that ends with <paramref name="fileEnd"/>.</summary>
    public static CompressionException Throws(string code, string fileEnd, Action action)
    {
        var error = Assert.Throws<CompressionException>(action);
        Assert.Equal(code, error.Code);
        Assert.NotNull(error.Diagnostic.File);
        Assert.EndsWith(fileEnd, error.Diagnostic.File);
        return error;
    }
}
