using Compression.Core.Data;
using Compression.Core.Diagnostics;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Passes;
using Compression.Core.Passes.Graph;
using Compression.Core.Pruning;
using Compression.Core.Tests.Quantization.WeightOnly;
using Compression.Core.Tests.Support;

namespace Compression.Core.Tests.Pruning;

/// <summary>Where N:M groups run for each weight layout, and what reconstruction buys per layer.</summary>
public sealed class LayoutAndReconstructionTests : IDisposable
{
    private readonly string temp = TestAssets.TempDirectory();

    public void Dispose() => Directory.Delete(temp, recursive: true);

    /// <summary>
    /// A MatMul and two Gemms store the weight [K, N]; a Gemm with transB reads a Constant node holding [N, K]: every
    /// group of 4 along K keeps at most 2, whichever way the weight is stored, and ONNX Runtime runs the result.
    /// </summary>
    [Fact]
    public void Two_of_four_runs_along_K_in_every_layout_including_a_Constant_held_transposed_weight()
    {
        var model = WeightOnlyModels.Mixed();
        var result = new PrunePass().Run(model, new PruneOptions { Method = PruningMethod.NM, Pattern = "2:4" }, new PassContext(new CollectingLog()));

        Assert.Equal(4, PassHarness.Result<SparsePruneResult>(result).PrunedLayers);
        var graph = result.Model.MainGraph;
        foreach (var (name, transposed) in new[] { ("w1", false), ("w2", false), ("w3", true), ("w4", false) })
        {
            var weight = TensorCodec.ToSingle(ConstantSources.Find(graph, name)!);
            var (k, n) = (WeightOnlyModels.K, WeightOnlyModels.N);
            for (var row = 0; row < n; row++)
            {
                for (var group = 0; group < k; group += 4)
                {
                    var kept = Enumerable.Range(group, 4).Count(i => weight[transposed ? row * k + i : i * n + row] != 0);
                    Assert.True(kept == 2, $"{name}: output {row}, group at {group} keeps {kept}");
                }
            }
        }

        Assert.Equal("Constant", graph.Producer("w3")!.OpType);
        var path = Path.Combine(temp, "pruned.onnx");
        ModelWriter.Save(result.Model, path);
        Assert.Equal(5, OrtFloatRunner.Run(path, WeightOnlyModels.Inputs()).Count);
    }

    /// <summary>On mnist-8 with the same magnitude mask, the SparseGPT update and bias correction lower every layer's output error.</summary>
    [SkippableFact]
    public void Reconstruction_lowers_every_layers_output_error_for_the_same_mask()
    {
        var mnist = TestAssets.Require(TestAssets.Mnist, "mnist-8");
        var calib = DataSourceFactory.Create(new DataSetSpec { Format = DataFormat.Idx, Path = DataAssert.MnistImages, Take = 128, Scale = 1 / 255.0 }, temp);
        var data = new Dictionary<string, IDataSource> { ["calib"] = calib };
        // Every layer at 50 %: a global allocation would give the two runs different sparsities per layer.
        var options = new PruneOptions { Sparsity = 0.5, Scope = PruningScope.Layer, Calibration = new StepCalibrationSpec { Data = "calib", Samples = 128 } };

        var maskOnly = PruningRuns.Layers(PruningRuns.Prune(mnist, options with { Reconstruct = false }, data));
        var refit = PruningRuns.Layers(PruningRuns.Prune(mnist, options, data));

        Assert.Equal(maskOnly.Count, refit.Count);
        for (var i = 0; i < refit.Count; i++)
        {
            Assert.True(refit[i].Error < maskOnly[i].Error * 0.8,
                $"{refit[i].Node}: {refit[i].Error} refit, {maskOnly[i].Error} mask only");
        }
    }
}
