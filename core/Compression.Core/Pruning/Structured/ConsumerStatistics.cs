using Compression.Core.Data;
using Compression.Core.Diagnostics;
using Compression.Core.Evaluation;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Passes;
using Compression.Core.Passes.Graph;
using Compression.Core.Quantization.WeightOnly;

namespace Compression.Core.Pruning.Structured;

/// <summary>
/// What calibration data says about the input of one consuming layer: E[x xᵀ] and E[x] over its features (the
/// rows of its weight matrix; im2col patches for a Conv), and per unit of the group mean |x| and the fraction of
/// zeros. Reconstruction, bias correction and the activation criteria all read from here.
/// </summary>
internal sealed class ConsumerStatistics
{
    public required GroupConsumer Consumer { get; init; }

    /// <summary>Features of the consumer's weight matrix (its reduction size); units x <see cref="FeaturesPerUnit"/>.</summary>
    public required int Features { get; init; }

    public required int FeaturesPerUnit { get; init; }

    /// <summary>E[x xᵀ], [features, features]; null where the layer's input is not unfolded (a Conv that is not 2-D).</summary>
    public double[]? SecondMoment { get; set; }

    public double[]? Mean { get; set; }

    public required double[] UnitMeanAbs { get; init; }

    public required double[] UnitZeros { get; init; }

    public long Rows { get; set; }
}

/// <summary>Collects <see cref="ConsumerStatistics"/> for every consuming layer of the groups, streaming calibration batches.</summary>
internal static class ConsumerStatisticsCollector
{
    /// <summary>Second moments held at once; more consumers take more passes over the calibration data.</summary>
    private const long MemoryBudget = 512L * 1024 * 1024;

    public static Dictionary<GroupConsumer, ConsumerStatistics> Collect(OnnxModel model, IReadOnlyList<ChannelGroup> groups, PruneCalibrationSpec calibration,
        bool secondMoments, PassContext context)
    {
        var graph = model.MainGraph;
        var data = context.DataSets[calibration.Data];
        var all = new List<(ChannelGroup Group, GroupConsumer Consumer, int Features, int PerUnit, bool Unfold)>();
        foreach (var group in groups)
        {
            foreach (var consumer in group.Consumers)
            {
                var weight = ConstantSources.Find(graph, consumer.Weight.Name)!;
                var features = (int)FeatureCount(consumer, weight.Dims);
                all.Add((group, consumer, features, features / group.Units, secondMoments && CanUnfold(consumer, weight.Dims.Count)));
            }
        }

        var result = new Dictionary<GroupConsumer, ConsumerStatistics>(ReferenceEqualityComparer.Instance);
        var start = 0;
        while (start < all.Count)
        {
            var end = start;
            long memory = 0;
            do
            {
                memory += all[end].Unfold ? 8L * all[end].Features * all[end].Features : 0;
                end++;
            }
            while (end < all.Count && memory + (all[end].Unfold ? 8L * all[end].Features * all[end].Features : 0) <= MemoryBudget);

            CollectChunk(model, all.GetRange(start, end - start), data, calibration, context, result);
            start = end;
        }

        return result;
    }

    /// <summary>Rows of the consumer's weight as a [features, outputs] matrix: C x kh x kw for a Conv, K for MatMul/Gemm.</summary>
    public static long FeatureCount(GroupConsumer consumer, IReadOnlyList<long> dims) => consumer.Node.OpType switch
    {
        "Conv" => TensorSize(dims) / dims[0],
        "Gemm" when GroupFinder.IntAttribute(consumer.Node, "transB", 0) != 0 => dims[1],
        _ => dims[0],
    };

    private static long TensorSize(IReadOnlyList<long> dims)
    {
        long size = 1;
        foreach (var d in dims)
        {
            size *= d;
        }

        return size;
    }

    private static bool CanUnfold(GroupConsumer consumer, int weightRank) =>
        consumer.Node.OpType != "Conv" || weightRank == 4;

    private static void CollectChunk(OnnxModel model, List<(ChannelGroup Group, GroupConsumer Consumer, int Features, int PerUnit, bool Unfold)> chunk,
        IDataSource data, PruneCalibrationSpec calibration, PassContext context, Dictionary<GroupConsumer, ConsumerStatistics> result)
    {
        var graph = model.MainGraph;
        var inputs = chunk.Select(c => c.Consumer.Input).Distinct(StringComparer.Ordinal).ToList();
        var accumulators = chunk.Select(c => c.Unfold ? new HessianAccumulator(c.Features) : null).ToList();
        var sums = chunk.Select(c => new double[c.Unfold ? c.Features : 0]).ToList();
        var stats = chunk.Select(c => new ConsumerStatistics
        {
            Consumer = c.Consumer,
            Features = c.Features,
            FeaturesPerUnit = c.PerUnit,
            UnitMeanAbs = new double[c.Group.Units],
            UnitZeros = new double[c.Group.Units],
        }).ToList();
        var counts = new long[chunk.Count];
        var samples = 0;
        try
        {
            foreach (var (batch, outputs) in ActivationCapture.Capture(model, inputs, data, calibration.BatchSize, Environment.ProcessorCount, context.Cancellation))
            {
                for (var i = 0; i < chunk.Count; i++)
                {
                    var output = outputs[inputs.IndexOf(chunk[i].Consumer.Input)];
                    var weightDims = ConstantSources.Find(graph, chunk[i].Consumer.Weight.Name)!.Dims;
                    counts[i] += chunk[i].Consumer.Node.OpType == "Conv"
                        ? AddConv(output, chunk[i].Consumer, weightDims, chunk[i].Group.Units, stats[i], accumulators[i], sums[i])
                        : AddRows(output, batch, chunk[i].Features, chunk[i].PerUnit, stats[i], accumulators[i], sums[i]);
                }

                samples += batch.Count;
                context.Log.Progress("Structured pruning", $"calibration: {samples} samples", Math.Min(1, (double)samples / calibration.Samples));
                if (samples >= calibration.Samples)
                {
                    break;
                }
            }
        }
        catch (CompressionException error) when (error.Code == ErrorCodes.DataSetEmpty)
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.PruneCalibrationEmpty,
                $"The calibration data set '{calibration.Data}' gave no samples: {error.Message}"), error);
        }

        if (samples == 0)
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.PruneCalibrationEmpty, $"The calibration data set '{calibration.Data}' gave no samples."));
        }

        for (var i = 0; i < chunk.Count; i++)
        {
            var s = stats[i];
            for (var u = 0; u < s.UnitMeanAbs.Length; u++)
            {
                s.UnitMeanAbs[u] /= Math.Max(1, counts[i]);
                s.UnitZeros[u] /= Math.Max(1, counts[i]);
            }

            if (accumulators[i] is { } accumulator && accumulator.Rows > 0)
            {
                var moment = accumulator.Hessian();
                for (var j = 0; j < moment.Length; j++)
                {
                    moment[j] *= 0.5; // Hessian() is 2 X^T X / rows
                }

                s.SecondMoment = moment;
                s.Mean = sums[i].Select(v => v / accumulator.Rows).ToArray();
                s.Rows = accumulator.Rows;
            }

            result[chunk[i].Consumer] = s;
        }
    }

    /// <summary>A MatMul/Gemm input [..., K]: rows of K features; unit u is the block of K / units columns. Padding tokens are skipped.</summary>
    private static long AddRows(OutputValue output, DataBatch batch, int features, int perUnit, ConsumerStatistics stats, HessianAccumulator? accumulator, double[] sums)
    {
        if (output.Shape.Length == 0 || output.Shape[^1] != features)
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.PruneCalibrationMismatch,
                $"The input '{output.Name}' of '{ChannelGroup.Describe(stats.Consumer.Node)}' came out as [{string.Join(", ", output.Shape)}] on the calibration data; its last dimension must be {features}."));
        }

        var keep = HessianCollector.TokenMask(batch, output.Shape);
        var rows = output.Values.Length / features;
        long kept = 0;
        for (var r = 0; r < rows; r++)
        {
            if (!keep.IsEmpty() && !keep[r])
            {
                continue;
            }

            kept++;
            var row = output.Values.AsSpan(r * features, features);
            for (var f = 0; f < features; f++)
            {
                var unit = f / perUnit;
                stats.UnitMeanAbs[unit] += Math.Abs(row[f]) / perUnit;
                stats.UnitZeros[unit] += row[f] == 0 ? 1.0 / perUnit : 0;
                if (accumulator is not null)
                {
                    sums[f] += row[f];
                }
            }
        }

        accumulator?.Add(output.Values, keep);
        return kept;
    }

    /// <summary>A Conv input [N, C, H, W]: per channel statistics over N x H x W, and im2col patches (C x kh x kw) for the moments.</summary>
    private static long AddConv(OutputValue output, GroupConsumer consumer, IReadOnlyList<long> weightDims, int units, ConsumerStatistics stats,
        HessianAccumulator? accumulator, double[] sums)
    {
        var shape = output.Shape;
        if (shape.Length != weightDims.Count || shape[1] != weightDims[1])
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.PruneCalibrationMismatch,
                $"The input '{output.Name}' of Conv '{ChannelGroup.Describe(consumer.Node)}' came out as [{string.Join(", ", shape)}] on the calibration data; it must have {weightDims[1]} channels."));
        }

        var channels = (int)shape[1];
        var plane = 1;
        for (var i = 2; i < shape.Length; i++)
        {
            plane *= (int)shape[i];
        }

        for (var n = 0; n < shape[0]; n++)
        {
            for (var c = 0; c < channels; c++)
            {
                var values = output.Values.AsSpan((n * channels + c) * plane, plane);
                double abs = 0, zeros = 0;
                foreach (var v in values)
                {
                    abs += Math.Abs(v);
                    zeros += v == 0 ? 1 : 0;
                }

                stats.UnitMeanAbs[c * units / channels] += abs / plane;
                stats.UnitZeros[c * units / channels] += zeros / plane;
            }
        }

        if (accumulator is not null)
        {
            for (var n = 0; n < shape[0]; n++)
            {
                var patches = Im2Col.Patches(output.Values.AsSpan((int)(n * channels * plane), channels * plane), shape, weightDims, consumer.Node);
                var rows = patches.Length / accumulator.Size;
                for (var r = 0; r < rows; r++)
                {
                    var row = patches.AsSpan(r * accumulator.Size, accumulator.Size);
                    for (var f = 0; f < row.Length; f++)
                    {
                        sums[f] += row[f];
                    }
                }

                accumulator.Add(patches, []);
            }
        }

        return shape[0];
    }

    private static bool IsEmpty(this bool[] keep) => keep.Length == 0;
}
