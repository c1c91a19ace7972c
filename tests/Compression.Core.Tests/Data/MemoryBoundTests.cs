using Compression.Core.Data;
using Compression.Core.Tests.Support;

namespace Compression.Core.Tests.Data;

/// <summary>GC.GetTotalMemory counts the whole process, so no other test may run beside this one.</summary>
[CollectionDefinition(nameof(MemoryBoundTests), DisableParallelization = true)]
public sealed class MemoryBoundCollection;

[Collection(nameof(MemoryBoundTests))]
public sealed class MemoryBoundTests
{
    [SkippableFact]
    public void Reading_10000_images_in_batches_of_1_keeps_memory_bounded()
    {
        var model = DataAssert.MnistSignature();
        var source = DataSourceFactory.Create(new DataSetSpec
        {
            Path = TestAssets.Require(DataAssert.MnistImages, "MNIST test images"),
            Labels = TestAssets.Require(DataAssert.MnistLabels, "MNIST test labels"),
        }, "/");
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var before = GC.GetTotalMemory(forceFullCollection: true);
        var peak = before;
        var read = 0;
        foreach (var batch in source.ReadBatches(model, batchSize: 1))
        {
            read += batch.Count;
            if (read % 500 == 0)
            {
                peak = Math.Max(peak, GC.GetTotalMemory(forceFullCollection: false));
            }
        }

        Assert.Equal(10_000, read);
        Assert.True(peak - before < 50L * 1024 * 1024, $"memory grew by {(peak - before) / (1024 * 1024)} MB");
    }
}
