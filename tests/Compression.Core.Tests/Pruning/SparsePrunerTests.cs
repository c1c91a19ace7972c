using Compression.Core.Data;
using Compression.Core.Diagnostics;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Passes;
using Compression.Core.Pruning;
using Compression.Core.Tests.Support;

namespace Compression.Core.Tests.Pruning;

/// <summary>Options, patterns and storage of unstructured and N:M pruning, on mnist-8 (real weights, small and quick).</summary>
public sealed class SparsePrunerTests : IDisposable
{
    private readonly string temp = TestAssets.TempDirectory();

    public void Dispose() => Directory.Delete(temp, recursive: true);

    [SkippableTheory]
    [InlineData("5:4")]
    [InlineData("2-4")]
    [InlineData("0:4")]
    [InlineData("2:64")]
    public void A_bad_pattern_is_CMP3402_quoting_it(string pattern)
    {
        var mnist = TestAssets.Require(TestAssets.Mnist, "mnist-8");
        var error = Assert.Throws<CompressionException>(() => PruningRuns.Prune(mnist, new PruneOptions { Method = PruningMethod.NM, Pattern = pattern }));
        Assert.Equal(ErrorCodes.PrunePattern, error.Code);
        Assert.Contains($"'{pattern}'", error.Message, StringComparison.Ordinal);
    }

    [SkippableTheory]
    [InlineData(1.0, ImportanceCriterion.L1, ErrorCodes.PruneSparsity)]
    [InlineData(-0.1, ImportanceCriterion.L1, ErrorCodes.PruneSparsity)]
    [InlineData(0.5, ImportanceCriterion.Fpgm, ErrorCodes.PruneCriterion)]
    [InlineData(0.5, ImportanceCriterion.Apoz, ErrorCodes.PruneCriterion)]
    [InlineData(0.5, ImportanceCriterion.Activation, ErrorCodes.PruneCalibrationMissing)]
    [InlineData(0.5, ImportanceCriterion.OutputError, ErrorCodes.PruneCalibrationMissing)]
    public void Options_that_cannot_apply_are_refused(double sparsity, ImportanceCriterion criterion, string code)
    {
        var mnist = TestAssets.Require(TestAssets.Mnist, "mnist-8");
        var error = Assert.Throws<CompressionException>(() => PruningRuns.Prune(mnist, new PruneOptions { Sparsity = sparsity, Criterion = criterion }));
        Assert.Equal(code, error.Code);
    }

    [SkippableFact]
    public void Two_of_four_keeps_two_of_every_four_weights_along_K_and_leaves_K_25_dense()
    {
        var mnist = TestAssets.Require(TestAssets.Mnist, "mnist-8");
        var log = new CollectingLog();
        var result = PruningRuns.Prune(mnist, new PruneOptions { Method = PruningMethod.NM, Pattern = "2:4" }, log: log);

        Assert.Contains(log.Diagnostics, d => d.Code == ErrorCodes.LayerLeftDense && d.Message.Contains("Convolution28", StringComparison.Ordinal));
        var matmul = result.Model.MainGraph.Nodes.Single(n => n.OpType == "MatMul");
        var weight = TensorCodec.ToSingle(Compression.Core.Onnx.Graphs.ConstantSources.Find(result.Model.MainGraph, matmul.Input[1])!); // [K = 256, N = 10]
        for (var n = 0; n < 10; n++)
        {
            for (var k = 0; k < 256; k += 4)
            {
                var kept = Enumerable.Range(k, 4).Count(i => weight[i * 10 + n] != 0);
                Assert.True(kept <= 2, $"column {n}, group at {k}: {kept} kept");
            }
        }
    }

    [SkippableFact]
    public void Global_scope_reaches_the_total_and_keeps_every_layer_within_its_ratios()
    {
        var mnist = TestAssets.Require(TestAssets.Mnist, "mnist-8");
        var result = PruningRuns.Prune(mnist, new PruneOptions { Sparsity = 0.6, Scope = PruningScope.Global, MinRatio = 0.2, MaxRatio = 0.8 });

        Assert.Equal(0.6, PassHarness.Result<SparsePruneResult>(result).Sparsity, 2);
        Assert.All(PruningRuns.Layers(result), l => Assert.InRange(l.Sparsity!.Value, 0.199, 0.801));
        Assert.NotEqual(PruningRuns.Layers(result)[0].Sparsity!.Value, PruningRuns.Layers(result)[2].Sparsity!.Value, 2);
    }

    [SkippableFact]
    public void Sparse_storage_shrinks_the_file_at_90_percent_and_onnx_runtime_gives_the_dense_outputs()
    {
        var mnist = TestAssets.Require(TestAssets.Mnist, "mnist-8");
        var model = ModelLoader.Load(mnist);
        model.Proto.IrVersion = 8; // sparse initializers need IR 6; mnist-8 is IR 3
        var original = Path.Combine(temp, "ir8.onnx");
        ModelWriter.Save(model, original);

        var dense = PruningRuns.Prune(original, new PruneOptions { Sparsity = 0.9, Storage = SparseStorage.Dense });
        var sparse = PruningRuns.Prune(original, new PruneOptions { Sparsity = 0.9 });
        var (densePath, sparsePath) = (Path.Combine(temp, "dense.onnx"), Path.Combine(temp, "sparse.onnx"));
        ModelWriter.Save(dense.Model, densePath);
        ModelWriter.Save(sparse.Model, sparsePath);

        Assert.Equal(2, PassHarness.Result<SparsePruneResult>(sparse).SparseInitializers); // the two Conv weights; the MatMul's is a folded Constant node
        Assert.True(new FileInfo(sparsePath).Length < new FileInfo(densePath).Length * 0.7, $"{new FileInfo(sparsePath).Length} vs {new FileInfo(densePath).Length}");
        var inputs = SyntheticInputs.For(dense.Model);
        var expected = OrtFloatRunner.Run(densePath, inputs);
        var actual = OrtFloatRunner.Run(sparsePath, inputs);
        Assert.Equal(expected[0], actual[0]);
    }

    [SkippableFact]
    public void At_half_sparsity_the_report_says_zeros_do_not_shrink_the_file_or_speed_it_up()
    {
        var mnist = TestAssets.Require(TestAssets.Mnist, "mnist-8");
        var result = PruningRuns.Prune(mnist, new PruneOptions { Sparsity = 0.5 });

        Assert.Equal(0, PassHarness.Result<SparsePruneResult>(result).SparseInitializers);
        Assert.Contains("does not shrink", PassHarness.Result<SparsePruneResult>(result).Storage, StringComparison.Ordinal);
        Assert.Contains("no faster", PassHarness.Result<SparsePruneResult>(result).Storage, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void The_plan_lists_each_layer_with_the_weights_it_would_zero()
    {
        var mnist = TestAssets.Require(TestAssets.Mnist, "mnist-8");
        var lines = PrunePass.PlanLayers(ModelLoader.Load(mnist), new PruneOptions { Sparsity = 0.5 });

        Assert.Equal(3, lines.Count);
        Assert.Contains(lines, l => l.Contains("'Times212' (MatMul) [256x10]: 1280 of 2560 weights zeroed", StringComparison.Ordinal));
    }

    [SkippableFact]
    public void A_schedule_without_an_evaluation_is_CMP3408()
    {
        var mnist = TestAssets.Require(TestAssets.Mnist, "mnist-8");
        var error = Assert.Throws<CompressionException>(() => PruningRuns.Prune(mnist, new PruneOptions { Schedule = new PruneSchedule { Steps = 3 } }));
        Assert.Equal(ErrorCodes.PruneScheduleNeedsEvaluation, error.Code);
    }

    [SkippableFact]
    public void Pruning_with_reconstruction_twice_writes_the_same_bytes()
    {
        var mnist = TestAssets.Require(TestAssets.Mnist, "mnist-8");
        var calib = DataSourceFactory.Create(new DataSetSpec { Format = DataFormat.Idx, Path = DataAssert.MnistImages, Take = 64, Scale = 1 / 255.0 }, temp);
        var options = new PruneOptions { Criterion = ImportanceCriterion.OutputError, Calibration = new StepCalibrationSpec { Data = "calib", Samples = 64 } };
        var paths = new List<string>();
        for (var run = 0; run < 2; run++)
        {
            var result = PruningRuns.Prune(mnist, options, new Dictionary<string, IDataSource> { ["calib"] = calib });
            paths.Add(Path.Combine(temp, $"run{run}.onnx"));
            ModelWriter.Save(result.Model, paths[^1]);
        }

        Assert.Equal(File.ReadAllBytes(paths[0]), File.ReadAllBytes(paths[1]));
    }
}
