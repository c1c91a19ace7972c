using Compression.Core.Data;
using Compression.Core.Diagnostics;
using Compression.Core.Evaluation;
using Compression.Core.Evaluation.Metrics;
using Compression.Core.Onnx;
using Compression.Core.Passes;
using Compression.Core.Quantization;
using Compression.Core.Tests.Support;

namespace Compression.Core.Tests.Quantization.Static;

/// <summary>
/// The PaddleOCR v4 recognizer quantized with the first 32 <see cref="DigitLines"/> as calibration data (in batches of
/// 8) and compared with fp32 on the 64 lines after them: 2,560 per-step decisions.
/// </summary>
internal static class RecognizerOnDigitLines
{
    public static (PassResult Result, FidelityMetrics Fidelity, long SourceBytes, long Bytes) Quantize(IModeQuantizer quantizer, QuantizeOptions options,
        PassHarness harness)
    {
        var source = TestAssets.Require(TestAssets.PaddleOcr("ch_PP-OCRv4_rec_infer.onnx"), "PaddleOCR ch_PP-OCRv4_rec_infer.onnx");
        StaticTestData.MnistFile("t10k-images-idx3-ubyte.gz");
        var log = new CollectingLog();
        var calibration = (options.Calibration ?? new CalibrationSpec { Data = StaticTestData.Calibration }) with { Samples = 32, BatchSize = 8 };
        var context = new PassContext(log) { DataSets = new Dictionary<string, IDataSource> { [calibration.Data] = new DigitLines(0, 32) } };
        var result = quantizer.Quantize(ModelLoader.Load(source), options with { Calibration = calibration }, context);
        var path = harness.Save(result.Model);
        var fidelity = Evaluator.Evaluate(source, path, new DigitLines(32, 64), new EvaluationOptions { BatchSize = 8 }, log).Fidelity[0];
        return (result, fidelity, new FileInfo(source).Length, new FileInfo(path).Length);
    }
}
