using Compression.Core.Diagnostics;
using Compression.Core.Onnx;
using Compression.Core.Pruning;
using Compression.Core.Pruning.Structured;
using Compression.Core.Tests.Support;

namespace Compression.Core.Tests.Pruning.Structured;

/// <summary>Bad structured-pruning input: one CompressionException with its code, or a warning and the model unchanged.</summary>
public sealed class StructuredBadInputTests
{
    [SkippableFact]
    public void Removing_every_channel_is_refused()
    {
        var model = ModelLoader.Load(TestAssets.Require(TestAssets.Mnist, "mnist-8"));
        var options = StructuredTestData.Options(new StructuredPruneOptions { Channels = 1.0 }, reconstruct: false);

        var error = Assert.Throws<CompressionException>(() => StructuredTestData.Prune(model, options, null, new CollectingLog()));

        Assert.Equal(ErrorCodes.PruneRemovesEveryUnit, error.Code);
    }

    [SkippableFact]
    public void More_heads_than_an_attention_block_has_are_refused()
    {
        var model = ModelLoader.Load(TestAssets.Require(TestAssets.MiniLm, "all-MiniLM-L6-v2"));
        var options = StructuredTestData.Options(new StructuredPruneOptions { Heads = 12, Neurons = 0 }, reconstruct: false);

        var error = Assert.Throws<CompressionException>(() => StructuredPruner.Plan(model, options));

        Assert.Equal(ErrorCodes.PruneTooManyHeads, error.Code);
        Assert.Contains("12 heads", error.Message, StringComparison.Ordinal);
    }

    [SkippableTheory]
    [InlineData(ImportanceCriterion.Activation)]
    [InlineData(ImportanceCriterion.Apoz)]
    [InlineData(ImportanceCriterion.OutputError)]
    public void Activation_criteria_without_calibration_are_refused(ImportanceCriterion criterion)
    {
        var model = ModelLoader.Load(TestAssets.Require(TestAssets.Mnist, "mnist-8"));
        var options = StructuredTestData.Options(new StructuredPruneOptions { Channels = 0.25 }, reconstruct: false) with { Criterion = criterion };

        var error = Assert.Throws<CompressionException>(() => StructuredTestData.Prune(model, options, null, new CollectingLog()));

        Assert.Equal(ErrorCodes.PruneCalibrationMissing, error.Code);
    }

    [SkippableFact]
    public void Calibration_naming_an_undefined_data_set_is_refused()
    {
        var model = ModelLoader.Load(TestAssets.Require(TestAssets.Mnist, "mnist-8"));
        var options = StructuredTestData.Options(new StructuredPruneOptions { Channels = 0.25 }, reconstruct: true);

        var error = Assert.Throws<CompressionException>(() => StructuredTestData.Prune(model, options, null, new CollectingLog()));

        Assert.Equal(ErrorCodes.PruneCalibrationMissing, error.Code);
    }

    [SkippableFact]
    public void No_safe_group_leaves_the_model_unchanged_with_a_warning()
    {
        var model = ModelLoader.Load(TestAssets.Require(TestAssets.Mnist, "mnist-8"));
        var before = model.Proto.Clone();
        var log = new CollectingLog();
        var options = StructuredTestData.Options(new StructuredPruneOptions { Channels = 0.25 }, reconstruct: false) with { Exclude = ["Conv"] };

        var result = StructuredTestData.Prune(model, options, null, log);

        Assert.Equal(before, result.Model.Proto);
        var warning = Assert.Single(log.Diagnostics);
        Assert.Equal(ErrorCodes.PruneNoSafeGroup, warning.Code);
        Assert.Contains("excluded", warning.Message, StringComparison.Ordinal);
        Assert.Empty(StructuredTestData.Layers(result));
    }
}
