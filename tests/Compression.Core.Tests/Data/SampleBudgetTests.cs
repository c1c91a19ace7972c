using Compression.Core.Data;
using Compression.Core.Data.Sampling;
using Compression.Core.Data.Sources.Random;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Tests.Support;

namespace Compression.Core.Tests.Data;

/// <summary>A calibration <c>samples</c> count means the data set's first that many samples, whatever the batch size.</summary>
public sealed class SampleBudgetTests
{
    [Fact]
    public void The_batch_that_crosses_the_count_is_cut_to_the_samples_left()
    {
        var model = DataAssert.Signature("x", ElementType.Float, 3);
        var data = new RandomDataSource(10, new SampleSelection());

        var batches = data.FirstSamples(6).ReadBatches(model, 4).ToList();

        Assert.Equal([4, 2], batches.Select(b => b.Count));
        Assert.Equal([2L, 3L], batches[1].Inputs[0].Shape);
        var whole = data.ReadBatches(model, 4).ToList();
        Assert.Equal(((float[])whole[1].Inputs[0].Values)[..6], (float[])batches[1].Inputs[0].Values);
        Assert.Equal(6, data.FirstSamples(6).Count);
    }

    [Fact]
    public void A_model_with_a_fixed_batch_reads_whole_batches()
    {
        var model = new ModelSignature([new InputSpec("x", ElementType.Float, [4, 3], [null, null])], []);
        var data = new RandomDataSource(12, new SampleSelection());

        Assert.Equal([4, 4], data.FirstSamples(6).ReadBatches(model, 4).Select(b => b.Count));
    }
}
