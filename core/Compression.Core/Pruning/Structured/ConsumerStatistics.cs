using System.Numerics.Tensors;
using Compression.Core.Calibration;
using Compression.Core.Data;
using Compression.Core.Diagnostics;
using Compression.Core.Evaluation;
using Compression.Core.Layers;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Passes;
using Compression.Core.Passes.Graph;

namespace Compression.Core.Pruning.Structured;

/// <summary>
/// What calibration data says about one consuming layer, with the groups before it already pruned: over its
/// input x (the rows of its weight; im2col patches for a Conv) E[x xᵀ] and E[x]; against the original model's
/// output y of the same layer on the same samples E[x yᵀ], E[y] and E[y²]; per unit of the group mean |x| and
/// the fraction of zeros. The refit aims the pruned layer at the original output, so errors do not pile up.
/// </summary>
internal sealed class ConsumerStatistics
{
    public required GroupConsumer Consumer { get; init; }

    /// <summary>Features of the consumer's weight matrix (its reduction size).</summary>
    public required int Features { get; init; }

    /// <summary>The unit of each feature, -1 for a feature that is not the group's (other channels of a Concat).</summary>
    public required int[] FeatureUnits { get; init; }

    /// <summary>Features of each unit: 0 for a unit the consumer does not read (it reads one piece of a Split).</summary>
    public required int[] UnitFeatureCounts { get; init; }

    /// <summary>Outputs of the layer in the original model.</summary>
    public required int Outputs { get; init; }

    public required double[] SecondMoment { get; init; }

    public required double[] Mean { get; init; }

    /// <summary>E[x yᵀ], [features, original outputs].</summary>
    public required double[] Cross { get; init; }

    public required double[] OutputMean { get; init; }

    public required double[] OutputSquares { get; init; }

    public required double[] UnitMeanAbs { get; init; }

    public required double[] UnitZeros { get; init; }

    public long Rows { get; set; }

    public bool IsRead(int unit) => UnitFeatureCounts[unit] > 0;

    /// <summary>Sum of the row weights during accumulation (see <see cref="ConsumerStatisticsCollector"/>).</summary>
    internal double WeightSum { get; set; }
}

/// <summary>Collects <see cref="ConsumerStatistics"/> for the consuming layers of one group, streaming calibration batches through the current and the original model in step.</summary>
internal static class ConsumerStatisticsCollector
{
    /// <summary>
    /// The original model's outputs of the given values over the calibration batches, captured in one pass, or null
    /// when they would take more than <paramref name="budgetBytes"/>: then each group runs the original again.
    /// </summary>
    public static IReadOnlyList<IReadOnlyDictionary<string, OutputValue>>? CaptureReference(OnnxModel reference, List<string> values, StepCalibrationSpec calibration,
        PassContext context, long budgetBytes)
    {
        var batches = new List<IReadOnlyDictionary<string, OutputValue>>();
        long bytes = 0;
        foreach (var (_, captured) in Capture(reference, values, calibration, context))
        {
            var decoded = new Dictionary<string, OutputValue>(StringComparer.Ordinal);
            for (var i = 0; i < values.Count; i++)
            {
                var value = captured[i];
                bytes += value.Values.Length * sizeof(float);
                decoded[values[i]] = value;
            }

            if (bytes > budgetBytes)
            {
                return null;
            }

            batches.Add(decoded);
        }

        return batches;
    }

    /// <summary>The statistics of one group's consumers; the original's outputs come from <see cref="CaptureReference"/>, or when that is null from running the original here.</summary>
    public static List<ConsumerStatistics> Collect(OnnxModel current, OnnxModel reference, ChannelGroup group, StepCalibrationSpec calibration, PassContext context,
        IReadOnlyList<IReadOnlyDictionary<string, OutputValue>>? cachedReference)
    {
        var graph = current.MainGraph;
        var stats = new List<ConsumerStatistics>();
        var accumulators = new List<(HessianAccumulator Moment, ProductAccumulator Cross)>();
        foreach (var consumer in group.Consumers)
        {
            var weight = new LayerWeight(consumer.Node, ConstantSources.Find(graph, consumer.Node.Input[1])!);
            var features = weight.RowLength;
            var outputs = new LayerWeight(consumer.Node, ConstantSources.Find(reference.MainGraph, consumer.Node.Input[1])!).Rows;
            var featureUnits = FeatureUnits(consumer, weight.Dims, features);
            var counts = new int[group.Units];
            foreach (var unit in featureUnits.Where(u => u >= 0))
            {
                counts[unit]++;
            }

            stats.Add(new ConsumerStatistics
            {
                Consumer = consumer,
                Features = features,
                FeatureUnits = featureUnits,
                UnitFeatureCounts = counts,
                Outputs = outputs,
                SecondMoment = [],
                Mean = new double[features],
                Cross = [],
                OutputMean = new double[outputs],
                OutputSquares = new double[outputs],
                UnitMeanAbs = new double[group.Units],
                UnitZeros = new double[group.Units],
            });
            accumulators.Add((new HessianAccumulator(features), new ProductAccumulator(features, outputs)));
        }

        var inputs = group.Consumers.Select(c => c.Input).Distinct(StringComparer.Ordinal).ToList();
        var outputsWanted = group.Consumers.Select(c => c.Node.Output[0]).Distinct(StringComparer.Ordinal).ToList();
        var samples = 0;
        using var originals = (cachedReference is null
            ? Capture(reference, outputsWanted, calibration, context).Select(captured => captured.Values)
            : cachedReference.Select(batch => (IReadOnlyList<OutputValue>)outputsWanted.Select(name => batch[name]).ToList())).GetEnumerator();
        foreach (var (batch, captured) in Capture(current, inputs, calibration, context))
        {
            if (!originals.MoveNext())
            {
                break;
            }

            var values = new DecodedOnce(captured); // consumers may share an input (the Q, K and V projections)

            for (var i = 0; i < stats.Count; i++)
            {
                var consumer = stats[i].Consumer;
                var x = values[inputs.IndexOf(consumer.Input)];
                var y = originals.Current[outputsWanted.IndexOf(consumer.Node.Output[0])];
                if (consumer.Node.OpType == "Conv")
                {
                    AddConv(x, y, consumer, ConstantSources.Find(graph, consumer.Node.Input[1])!.Dims, stats[i], accumulators[i]);
                }
                else
                {
                    AddRows(x, y, batch, stats[i], accumulators[i]);
                }
            }

            samples += batch.Count;
            context.Log.Progress("Structured pruning", $"{group.Name}: {samples} calibration samples", Math.Min(1, (double)samples / calibration.Samples));
        }

        var finished = new List<ConsumerStatistics>();
        for (var i = 0; i < stats.Count; i++)
        {
            var s = stats[i];
            var rows = accumulators[i].Moment.Rows;
            if (samples == 0 || rows == 0)
            {
                throw new CompressionException(Diagnostic.Error(ErrorCodes.PruneCalibrationEmpty, $"The calibration data set '{calibration.Data}' gave no samples."));
            }

            // The accumulators divide by rows; the moments are weighted means over the row weights.
            var weights = s.WeightSum;
            var rescale = rows / weights;
            var moment = accumulators[i].Moment.Hessian();
            for (var j = 0; j < moment.Length; j++)
            {
                moment[j] *= 0.5 * rescale; // Hessian() is 2 X^T X / rows
            }

            var cross = accumulators[i].Cross.Mean();
            for (var j = 0; j < cross.Length; j++)
            {
                cross[j] *= rescale;
            }

            finished.Add(new ConsumerStatistics
            {
                Consumer = s.Consumer,
                Features = s.Features,
                FeatureUnits = s.FeatureUnits,
                UnitFeatureCounts = s.UnitFeatureCounts,
                Outputs = s.Outputs,
                SecondMoment = moment,
                Mean = Scaled(s.Mean, weights),
                Cross = cross,
                OutputMean = Scaled(s.OutputMean, weights),
                OutputSquares = Scaled(s.OutputSquares, weights),
                UnitMeanAbs = Scaled(s.UnitMeanAbs, rows),
                UnitZeros = Scaled(s.UnitZeros, rows),
                Rows = rows,
            });
        }

        return finished;
    }

    /// <summary>The unit of each feature (-1: not the group's): features run along the weight's group axis, a block of features per axis index.</summary>
    public static int[] FeatureUnits(GroupConsumer consumer, IReadOnlyList<long> dims, int features)
    {
        var axisSize = dims[consumer.Weight.Axis];
        var axisUnits = consumer.Weight.AxisUnits(axisSize);
        var perIndex = (int)(features / axisSize);
        var units = new int[features];
        for (var f = 0; f < features; f++)
        {
            units[f] = axisUnits[f / perIndex];
        }

        return units;
    }

    private static double[] Scaled(double[] sums, double total) => sums.Select(v => v / total).ToArray();

    /// <summary>Runs only the part of the model the values need.</summary>
    private static IEnumerable<(DataBatch Batch, IReadOnlyList<OutputValue> Values)> Capture(OnnxModel model, List<string> values,
        StepCalibrationSpec calibration, PassContext context)
    {
        var trimmed = new OnnxModel(model.Proto.Clone());
        trimmed.Proto.Graph.Output.Clear();
        foreach (var value in values)
        {
            trimmed.Proto.Graph.Output.Add(new ValueInfoProto { Name = value });
        }

        trimmed.MainGraph.RemoveDeadNodes();
        using var batches = ActivationCapture.Capture(trimmed, values, context.DataSets[calibration.Data].FirstSamples(calibration.Samples), calibration.BatchSize, Environment.ProcessorCount,
            context.Cancellation).GetEnumerator();
        for (var samples = 0; samples < calibration.Samples && Next(batches, calibration);)
        {
            samples += batches.Current.Batch.Count;
            yield return batches.Current;
        }
    }

    /// <summary>Moves to the next batch; an empty data set is the pruning step's error (a yield cannot sit in a try with a catch).</summary>
    private static bool Next(IEnumerator<(DataBatch Batch, IReadOnlyList<OutputValue> Values)> batches, StepCalibrationSpec calibration)
    {
        try
        {
            return batches.MoveNext();
        }
        catch (CompressionException error) when (error.Code == ErrorCodes.DataSetEmpty)
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.PruneCalibrationEmpty,
                $"The calibration data set '{calibration.Data}' gave no samples: {error.Message}"), error);
        }
    }

    /// <summary>A MatMul/Gemm input [..., K] and output [..., O]: one row per position; padding tokens are skipped.</summary>
    private static void AddRows(OutputValue x, OutputValue y, DataBatch batch, ConsumerStatistics stats, (HessianAccumulator Moment, ProductAccumulator Cross) accumulators)
    {
        var features = stats.Features;
        if (x.Shape.Length == 0 || x.Shape[^1] != features || y.Values.Length / stats.Outputs != x.Values.Length / features)
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.PruneCalibrationMismatch,
                $"The input '{x.Name}' of '{ChannelGroup.Describe(stats.Consumer.Node)}' came out as [{string.Join(", ", x.Shape)}] on the calibration data; its last dimension must be {features}."));
        }

        var keep = HessianCollector.TokenMask(batch, x.Shape);
        var rows = x.Values.Length / features;
        var outputs = stats.Outputs;
        var kept = new List<int>(rows);
        double meanEnergy = 0;
        for (var r = 0; r < rows; r++)
        {
            if (keep.Length == 0 || keep[r])
            {
                kept.Add(r);
                meanEnergy += TensorPrimitives.Dot(y.Values.AsSpan(r * outputs, outputs), y.Values.AsSpan(r * outputs, outputs)) / outputs;
            }
        }

        if (kept.Count == 0)
        {
            return;
        }

        // Each token is weighted by 1 / its output energy, so the fit minimizes the relative error per token: a few
        // tokens with massive activations (BERT's separators) would otherwise decide every weight.
        meanEnergy /= kept.Count;
        var xs = new float[kept.Count * features];
        var ys = new float[kept.Count * outputs];
        for (var n = 0; n < kept.Count; n++)
        {
            var r = kept[n];
            var yRow = y.Values.AsSpan(r * outputs, outputs);
            var weight = 1 / (TensorPrimitives.Dot(yRow, yRow) / outputs + 1e-3 * meanEnergy + 1e-30);
            var scale = (float)Math.Sqrt(weight);
            TensorPrimitives.Multiply(x.Values.AsSpan(r * features, features), scale, xs.AsSpan(n * features, features));
            TensorPrimitives.Multiply(yRow, scale, ys.AsSpan(n * outputs, outputs));
            AddInputRow(x.Values.AsSpan(r * features, features), stats, weight);
            AddOutputRow(yRow, stats, weight);
            stats.WeightSum += weight;
        }

        accumulators.Moment.Add(xs, []);
        accumulators.Cross.Add(xs, ys, []);
    }

    /// <summary>A Conv input [N, C, D1, ..., Dk] (any spatial rank) unfolded into im2col patches, against the output [N, O, ...] position by position.</summary>
    private static void AddConv(OutputValue x, OutputValue y, GroupConsumer consumer, IReadOnlyList<long> weightDims, ConsumerStatistics stats,
        (HessianAccumulator Moment, ProductAccumulator Cross) accumulators)
    {
        var patches = ConvPatches.Of(consumer.Node, weightDims);
        if (!patches.Fits(x.Shape) || y.Shape.Length != x.Shape.Length)
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.PruneCalibrationMismatch,
                $"The input '{x.Name}' of Conv '{ChannelGroup.Describe(consumer.Node)}' came out as [{string.Join(", ", x.Shape)}] on the calibration data; it must be {patches.ExpectedShape}."));
        }

        var positions = patches.Positions(x.Shape);
        var outPlane = (int)y.Shape.Skip(2).Aggregate(1L, (a, b) => a * b);
        if (positions != outPlane)
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.PruneCalibrationMismatch,
                $"Conv '{ChannelGroup.Describe(consumer.Node)}' has {outPlane} output positions but its input unfolds into {positions}."));
        }

        // Several images per update: each accumulator update is a pass over every pair of features, however few rows.
        var outputs = stats.Outputs;
        var batch = (int)x.Shape[0];
        var perUpdate = patches.ImagesPerUpdate(x.Shape);
        var rows = new float[(long)perUpdate * positions * stats.Features];
        var rowsOut = new float[(long)perUpdate * positions * outputs];
        for (var first = 0; first < batch; first += perUpdate)
        {
            var count = Math.Min(perUpdate, batch - first);
            for (var i = 0; i < count; i++)
            {
                patches.Extract(x, first + i, rows.AsSpan(i * positions * stats.Features, positions * stats.Features));
                var image = y.Values.AsSpan((first + i) * outputs * outPlane, outputs * outPlane);
                var target = rowsOut.AsSpan(i * positions * outputs, positions * outputs);
                for (var o = 0; o < outputs; o++)
                {
                    for (var p = 0; p < positions; p++)
                    {
                        target[p * outputs + o] = image[o * outPlane + p];
                    }
                }
            }

            var rowCount = count * positions;
            for (var r = 0; r < rowCount; r++)
            {
                AddInputRow(rows.AsSpan(r * stats.Features, stats.Features), stats, 1);
                AddOutputRow(rowsOut.AsSpan(r * outputs, outputs), stats, 1);
            }

            stats.WeightSum += rowCount;
            accumulators.Moment.Add(rows.AsSpan(0, rowCount * stats.Features), []);
            accumulators.Cross.Add(rows.AsSpan(0, rowCount * stats.Features), rowsOut.AsSpan(0, rowCount * outputs), []);
        }
    }

    /// <summary>Weighted sums for the means; unweighted unit statistics for the activation criteria.</summary>
    private static void AddInputRow(ReadOnlySpan<float> row, ConsumerStatistics stats, double weight)
    {
        for (var f = 0; f < row.Length; f++)
        {
            stats.Mean[f] += weight * row[f];
            var unit = stats.FeatureUnits[f];
            if (unit >= 0)
            {
                var perUnit = stats.UnitFeatureCounts[unit];
                stats.UnitMeanAbs[unit] += Math.Abs(row[f]) / perUnit;
                stats.UnitZeros[unit] += row[f] == 0 ? 1.0 / perUnit : 0;
            }
        }
    }

    private static void AddOutputRow(ReadOnlySpan<float> row, ConsumerStatistics stats, double weight)
    {
        for (var o = 0; o < row.Length; o++)
        {
            stats.OutputMean[o] += weight * row[o];
            stats.OutputSquares[o] += weight * row[o] * row[o];
        }
    }
}
