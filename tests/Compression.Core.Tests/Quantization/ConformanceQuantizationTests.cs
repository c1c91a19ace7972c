using Compression.Core.Diagnostics;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Passes;
using Compression.Core.Quantization;
using Compression.Core.Tests.Onnx;
using Compression.Core.Tests.Support;

namespace Compression.Core.Tests.Quantization;

/// <summary>
/// Every libonnx-testdata model holding an op a mode quantizes (dynamic, weight-only, float16, and static where the
/// weights are constant and the test's own data sets can calibrate it) either becomes a model ONNX Runtime loads and
/// runs on the test's own inputs, or is left unchanged with a CMP32xx warning, or is refused with a CMP3xxx code:
/// never an invalid model.
/// </summary>
public sealed class ConformanceQuantizationTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly HashSet<string> QuantizableOps = ["MatMul", "Gemm", "Conv", "Gather"];
    private const string CalibrationData = "test-data";

    public static TheoryData<string> Models()
    {
        var data = new TheoryData<string>();
        foreach (var test in ConformanceTests.Models())
        {
            var path = Path.Combine(TestAssets.OnnxTestData, test, "model.onnx");
            if (!File.Exists(path) || ModelLoader.Load(path).Proto.Graph.Node.Any(n => QuantizableOps.Contains(n.OpType)))
            {
                data.Add(test);
            }
        }

        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(Models))]
    public void Quantized_models_load_and_run_or_are_refused_with_a_reason(string test)
    {
        var folder = TestAssets.RequireDirectory(Path.Combine(TestAssets.OnnxTestData, test), "Debian's libonnx-testdata");
        var source = Path.Combine(folder, "model.onnx");
        foreach (var mode in new[] { QuantizationMode.Dynamic, QuantizationMode.Static, QuantizationMode.WeightOnly, QuantizationMode.Float16 })
        {
            if (mode == QuantizationMode.Static && !CanCalibrate(source, folder))
            {
                continue;
            }

            var model = ModelLoader.Load(source);
            var log = new CollectingLog();
            PassResult result;
            try
            {
                result = new QuantizePass().Run(model, Options(mode), Context(mode, folder, log));
            }
            catch (CompressionException e)
            {
                Assert.StartsWith("CMP3", e.Code);
                output.WriteLine($"{mode}: refused ({e.Code})");
                continue;
            }

            output.WriteLine($"{mode}: {result.Result}; {string.Join(" | ", log.Diagnostics.Select(d => d.Code))}");
            var quantized = result.Model.Proto.Graph.Node.Any(n => n.Domain == "com.microsoft" || n.OpType.Contains("Integer", StringComparison.Ordinal) || n.OpType.EndsWith("QuantizeLinear", StringComparison.OrdinalIgnoreCase));
            if (mode != QuantizationMode.Float16 && !quantized)
            {
                // Left unchanged: the log must say why (most test models keep their weights as graph inputs; a static model
                // ONNX Runtime would not load stays float).
                Assert.Contains(log.Diagnostics, d => d.Code is ErrorCodes.NothingQuantized or ErrorCodes.StaticFormatNotUsed);
            }

            Assert.DoesNotContain(Compression.Core.Onnx.Graphs.GraphChecker.Check(result.Model), d => d.Severity == DiagnosticSeverity.Error);
            var temp = TestAssets.TempDirectory();
            try
            {
                var saved = Path.Combine(temp, "quantized.onnx");
                ModelWriter.Save(result.Model, saved);
                var inputs = TestInputs(result.Model, folder);
                if (inputs is null)
                {
                    using var session = new Microsoft.ML.OnnxRuntime.InferenceSession(saved);
                    continue;
                }

                try
                {
                    OrtRunner.Run(source, inputs);
                }
                catch (Microsoft.ML.OnnxRuntime.OnnxRuntimeException)
                {
                    continue; // ONNX Runtime cannot run the original either
                }

                Assert.NotEmpty(OrtRunner.Run(saved, inputs));
            }
            finally
            {
                Directory.Delete(temp, recursive: true);
            }
        }
    }

    /// <summary>Static mode calibrates on the test's own data sets, in QDQ (an explicit format is loaded once in ONNX Runtime).</summary>
    private static QuantizeOptions Options(QuantizationMode mode) => mode == QuantizationMode.Static
        ? new QuantizeOptions { Mode = mode, Format = QuantizationFormat.Qdq, Calibration = new CalibrationSpec { Data = CalibrationData, Samples = 16, BatchSize = 1 } }
        : new QuantizeOptions { Mode = mode, Bits = 8, BlockSize = 16 };

    private static PassContext Context(QuantizationMode mode, string folder, CollectingLog log) => mode == QuantizationMode.Static
        ? new PassContext(log) { DataSets = new Dictionary<string, Compression.Core.Data.IDataSource> { [CalibrationData] = Compression.Core.Data.DataSourceFactory.Create(new Compression.Core.Data.DataSetSpec { Format = Compression.Core.Data.DataFormat.OnnxTestData, Path = folder, Name = CalibrationData }, folder) } }
        : new PassContext(log);

    /// <summary>
    /// Static mode needs what it quantizes to be constant (a weight among the initializers or Constant nodes) and test
    /// data that feeds every remaining input as a tensor; most of these models take their weights as graph inputs.
    /// </summary>
    private static bool CanCalibrate(string source, string folder)
    {
        var model = ModelLoader.Load(source);
        var graph = model.Proto.Graph;
        var constants = graph.Initializer.Select(t => t.Name).Concat(graph.Node.Where(n => n.OpType == "Constant").SelectMany(n => n.Output)).ToHashSet();
        var hasConstantWeight = graph.Node.Any(n => n.OpType is "MatMul" or "Gemm" or "Conv" && n.Input.Count > 1 && constants.Contains(n.Input[1]));
        return hasConstantWeight && TestInputs(model, folder) is { } feeds && feeds.Count == graph.Input.Count(i => !constants.Contains(i.Name));
    }

    private static List<(string, TensorProto)>? TestInputs(OnnxModel model, string folder)
    {
        var dataSet = Path.Combine(folder, "test_data_set_0");
        var graph = model.Proto.Graph;
        var initializers = graph.Initializer.Select(t => t.Name).ToHashSet();
        var inputs = graph.Input.Where(i => !initializers.Contains(i.Name)).ToList();
        if (!Directory.Exists(dataSet) || inputs.Any(i => i.Type?.ValueCase != TypeProto.ValueOneofCase.TensorType))
        {
            return null;
        }

        var feeds = new List<(string, TensorProto)>();
        for (var k = 0; File.Exists(Path.Combine(dataSet, $"input_{k}.pb")) && k < inputs.Count; k++)
        {
            feeds.Add((inputs[k].Name, TensorProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(dataSet, $"input_{k}.pb")))));
        }

        return feeds;
    }
}
