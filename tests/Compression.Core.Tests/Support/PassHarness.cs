using Compression.Core.Diagnostics;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Passes;
using Compression.Core.Tests.Onnx;

namespace Compression.Core.Tests.Support;

/// <summary>Runs a pass the way the pipeline does and compares the model's outputs in ONNX Runtime before and after.</summary>
public sealed class PassHarness : IDisposable
{
    public string Temp { get; } = TestAssets.TempDirectory();

    public CollectingLog Log { get; } = new();

    public void Dispose() => Directory.Delete(Temp, recursive: true);

    /// <summary>Runs the pass and asserts the result passes the graph checker (which also catches nodes out of order).</summary>
    public PassResult Apply(IPass pass, OnnxModel model, PassOptions? options = null)
    {
        var result = pass.Run(model, options ?? (PassOptions)Activator.CreateInstance(pass.OptionsType)!, new PassContext(Log));
        var errors = GraphChecker.Check(result.Model).Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        Assert.True(errors.Count == 0, $"{pass.Name} left an invalid graph: {string.Join(Environment.NewLine, errors)}");
        return result;
    }

    /// <summary>The step's typed result, asserted to be of the type the test expects.</summary>
    public static T Result<T>(PassResult result)
        where T : StepResult => Assert.IsAssignableFrom<T>(result.Result);

    /// <inheritdoc cref="Result{T}(PassResult)"/>
    public static T Result<T>(Reports.StepSummary step)
        where T : StepResult => Assert.IsAssignableFrom<T>(step.Result);

    public string Save(OnnxModel model)
    {
        var path = Path.Combine(Temp, $"{Guid.NewGuid():N}.onnx");
        ModelWriter.Save(model, path);
        return path;
    }

    /// <summary>Asserts the rewritten model gives the same bytes on every output as the model file it came from.</summary>
    public void AssertBitIdentical(string name, OnnxModel after) =>
        AssertBitIdentical(name, ModelLoader.Load(RealModelTests.PathOf(name)), after);

    /// <summary>Compares two in-memory models bit for bit on the synthetic inputs of <paramref name="before"/>.</summary>
    public void AssertBitIdentical(string name, OnnxModel before, OnnxModel after)
    {
        var inputs = SyntheticInputs.For(before);
        var expected = OrtRunner.Run(Save(before), inputs);
        var actual = OrtRunner.Run(Save(after), inputs);
        Assert.Equal(expected.Count, actual.Count);
        for (var i = 0; i < expected.Count; i++)
        {
            Assert.True(expected[i].AsSpan().SequenceEqual(actual[i]), $"Output {i} of {name} differs after the pass.");
        }
    }

    /// <summary>Asserts max |after - before| / max |before| stays under <paramref name="tolerance"/> on every output.</summary>
    public void AssertClose(string name, OnnxModel after, double tolerance) =>
        AssertClose(name, ModelLoader.Load(RealModelTests.PathOf(name)), after, tolerance);

    /// <summary>Compares two in-memory models on the synthetic inputs of <paramref name="before"/>.</summary>
    public void AssertClose(string name, OnnxModel before, OnnxModel after, double tolerance)
    {
        var inputs = SyntheticInputs.For(before);
        var expected = OrtFloatRunner.Run(Save(before), inputs);
        var actual = OrtFloatRunner.Run(Save(after), inputs);
        Assert.Equal(expected.Count, actual.Count);
        for (var i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].Length, actual[i].Length);
            double maxDiff = 0, maxAbs = 0;
            for (var j = 0; j < expected[i].Length; j++)
            {
                maxDiff = Math.Max(maxDiff, Math.Abs((double)expected[i][j] - actual[i][j]));
                maxAbs = Math.Max(maxAbs, Math.Abs((double)expected[i][j]));
            }

            Assert.True(maxAbs > 0, $"Output {i} of {name} is all zeros; the comparison would prove nothing.");
            Assert.True(maxDiff / maxAbs < tolerance, $"Output {i} of {name}: max abs diff {maxDiff} over max abs {maxAbs} is not under {tolerance}.");
        }
    }

    /// <summary>
    /// Makes a final Sigmoid's input the output instead: on synthetic inputs a detector's probability map sits near
    /// 0 everywhere, where a relative comparison says nothing, while its logits are well scaled.
    /// </summary>
    public static void ExposeSigmoidLogits(OnnxModel model)
    {
        var graph = model.MainGraph;
        foreach (var output in model.Proto.Graph.Output)
        {
            if (graph.Producer(output.Name) is { OpType: "Sigmoid" } sigmoid)
            {
                output.Name = sigmoid.Input[0];
                output.Type.TensorType.Shape = null;
            }
        }
    }
}
