using Compression.Core.Data;
using Compression.Core.Diagnostics;
using Compression.Core.Evaluation;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Passes;
using Compression.Core.Pruning;
using Compression.Core.Quantization;
using Compression.Core.Tests.Support;

namespace Compression.Core.Tests.Corpus;

/// <summary>The issue's bad inputs on corpus models: calibration data of the wrong shape, and an op no quantizer knows.</summary>
public sealed class CorpusBadInputTests : IDisposable
{
    private readonly string folder = TestAssets.TempDirectory();

    public void Dispose() => Directory.Delete(folder, recursive: true);

    /// <summary>Colour 32 x 32 images for a 28 x 28 grey model: one CMP error naming the input, the shape it takes and the shape given.</summary>
    [Theory]
    [InlineData("quantize-static")]
    [InlineData("quantize-int4")]
    [InlineData("prune-unstructured")]
    [InlineData("prune-structured")]
    public void Calibration_data_of_the_wrong_shape_names_the_input_and_both_shapes(string step)
    {
        var model = ExportCorpus.Models["residual_cnn"].Path;
        var data = Path.Combine(folder, "colour.npy");
        File.WriteAllBytes(data, NpyWriter.Npy(new float[4 * 3 * 32 * 32], [4, 3, 32, 32], "<f4"));
        var pass = step.StartsWith("quantize", StringComparison.Ordinal) ? (IPass)new QuantizePass() : new PrunePass();
        PassOptions options = step switch
        {
            "quantize-static" => new QuantizeOptions { Mode = QuantizationMode.Static, Calibration = new CalibrationSpec { Data = "calibration" } },
            "quantize-int4" => new QuantizeOptions { Mode = QuantizationMode.WeightOnly, Calibration = new CalibrationSpec { Data = "calibration" } },
            "prune-unstructured" => new PruneOptions { Calibration = new StepCalibrationSpec { Data = "calibration" } },
            _ => new PruneOptions { Method = PruningMethod.Structured, Sparsity = 0.3, Calibration = new StepCalibrationSpec { Data = "calibration" } },
        };
        var context = new PassContext(new CollectingLog())
        {
            DataSets = new Dictionary<string, IDataSource> { ["calibration"] = DataSourceFactory.Create(new DataSetSpec { Path = data }, folder) },
        };

        var error = Assert.Throws<CompressionException>(() => pass.Run(ModelLoader.Load(model), options, context));

        Assert.StartsWith("CMP", error.Code, StringComparison.Ordinal);
        Assert.Contains("image", error.Message, StringComparison.Ordinal);
        Assert.Contains("[3,32,32]", error.Message, StringComparison.Ordinal);
        Assert.Matches(@"28, ?28", error.Message);
    }

    /// <summary>
    /// ONNX Runtime's com.microsoft FastGelu in place of the MLP's ReLUs, an op none of the quantizers has a rule for:
    /// every mode quantizes the layers around it, and the result runs.
    /// </summary>
    [Theory]
    [InlineData(QuantizationMode.Dynamic)]
    [InlineData(QuantizationMode.Static)]
    [InlineData(QuantizationMode.WeightOnly)]
    [InlineData(QuantizationMode.Float16)]
    public void A_model_with_an_op_no_quantizer_knows_is_quantized_around_it(QuantizationMode mode)
    {
        ExportCorpus.RequireData();
        var model = ModelLoader.Load(ExportCorpus.Models["mlp_gemm"].Path);
        foreach (var relu in model.Proto.Graph.Node.Where(n => n.OpType == "Relu"))
        {
            relu.OpType = "FastGelu";
            relu.Domain = "com.microsoft";
        }

        model.Proto.OpsetImport.Add(new OperatorSetIdProto { Domain = "com.microsoft", Version = 1 });
        var original = Path.Combine(folder, "mlp_fastgelu.onnx");
        ModelWriter.Save(model, original);
        var calibration = DataSourceFactory.Create(new DataSetSpec { Format = DataFormat.Idx, Path = "train-images-idx3-ubyte.gz", Take = 64 }, TestAssets.FashionMnist);
        var context = new PassContext(new CollectingLog()) { DataSets = new Dictionary<string, IDataSource> { ["calibration"] = calibration } };
        var options = new QuantizeOptions { Mode = mode, Calibration = mode is QuantizationMode.Static or QuantizationMode.WeightOnly ? new CalibrationSpec { Data = "calibration" } : null };

        var result = new QuantizePass().Run(ModelLoader.Load(original), options, context);

        Assert.Contains(result.Model.Proto.Graph.Node, n => n.OpType == "FastGelu");
        Assert.Contains(result.Model.Proto.Graph.Node, n => n.OpType is "DynamicQuantizeMatMul" or "MatMulInteger" or "QGemm" or "QLinearMatMul" or "DequantizeLinear" or "MatMulNBits" or "Cast");
        var quantized = Path.Combine(folder, $"mlp_fastgelu.{mode}.onnx");
        ModelWriter.Save(result.Model, quantized);
        var test = DataSourceFactory.Create(new DataSetSpec { Format = DataFormat.Idx, Path = "t10k-images-idx3-ubyte.gz", Labels = "t10k-labels-idx1-ubyte.gz", Take = 500 }, TestAssets.FashionMnist);
        var report = Evaluator.Evaluate(original, quantized, test, new EvaluationOptions(), new CollectingLog());
        Assert.True(report.Fidelity[0].Agreement > 0.95, $"agreement {report.Fidelity[0].Agreement:P1}");
    }
}
