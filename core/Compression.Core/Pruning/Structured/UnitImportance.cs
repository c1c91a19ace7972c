using System.Numerics.Tensors;
using Compression.Core.Layers;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Passes.Graph;

namespace Compression.Core.Pruning.Structured;

/// <summary>
/// Scores the units of a group, summed over its coupled tensors (each tensor's scores divided by their mean first,
/// so a large tensor does not drown a small one). Higher is more important.
/// </summary>
internal static class UnitImportance
{
    public static double[] Score(OnnxGraph graph, ChannelGroup group, ImportanceCriterion criterion, IReadOnlyList<ConsumerStatistics> statistics)
    {
        var total = new double[group.Units];
        switch (criterion)
        {
            case ImportanceCriterion.L1:
            case ImportanceCriterion.L2:
                foreach (var tensor in group.Tensors.Where(t => t.Role != CoupledRole.Parameter))
                {
                    var weight = ConstantSources.Find(graph, tensor.Name)!;
                    var norms = UnitSlices.Norms(Onnx.Tensors.TensorCodec.ToSingle(weight), weight.Dims, tensor.Axis, tensor.AxisUnits(weight.Dims[tensor.Axis]), group.Units,
                        squared: criterion == ImportanceCriterion.L2);
                    AddNormalized(total, criterion == ImportanceCriterion.L2 ? norms.Select(Math.Sqrt).ToArray() : norms);
                }

                break;
            case ImportanceCriterion.Fpgm:
                foreach (var tensor in group.Tensors.Where(t => t.Role == CoupledRole.Producer))
                {
                    var weight = ConstantSources.Find(graph, tensor.Name)!;
                    AddNormalized(total, GeometricMedianDistances(UnitSlices.UnitVectors(Onnx.Tensors.TensorCodec.ToSingle(weight), weight.Dims, tensor.Axis, tensor.Block, group.Units)));
                }

                break;
            case ImportanceCriterion.Activation:
                foreach (var s in statistics)
                {
                    AddNormalized(total, s.UnitMeanAbs);
                }

                break;
            case ImportanceCriterion.Apoz:
                foreach (var s in statistics)
                {
                    AddNormalized(total, s.UnitZeros.Select((z, u) => s.IsRead(u) ? 1 - z : 0).ToArray());
                }

                break;
            default:
                foreach (var s in statistics)
                {
                    AddNormalized(total, OutputEnergy(graph, s, group.Units));
                }

                break;
        }

        return total;
    }

    /// <summary>
    /// The units with the lowest scores (ties: the later unit goes first), ascending: <paramref name="count"/> in all,
    /// spread over the group's partitions as <see cref="ChannelGroup.Removals"/> says.
    /// </summary>
    public static int[] Lowest(double[] scores, ChannelGroup group, int count) =>
        group.Removals(count)
            .SelectMany(r => Enumerable.Range(r.First, r.Count).OrderBy(u => scores[u]).ThenByDescending(u => u).Take(r.Remove))
            .Order().ToArray();

    private static void AddNormalized(double[] total, double[] scores)
    {
        var mean = scores.Average();
        for (var u = 0; u < total.Length; u++)
        {
            total[u] += mean > 0 ? scores[u] / mean : 0;
        }
    }

    /// <summary>FPGM: each filter's summed distance to the others; the filters nearest the geometric median are the most replaceable.</summary>
    private static double[] GeometricMedianDistances(float[][] vectors)
    {
        var sums = new double[vectors.Length];
        Parallel.For(0, vectors.Length, i =>
        {
            double sum = 0;
            for (var j = 0; j < vectors.Length; j++)
            {
                sum += j == i ? 0 : TensorPrimitives.Distance(vectors[i], vectors[j]);
            }

            sums[i] = sum;
        });
        return sums;
    }

    /// <summary>
    /// Output error of removing a unit alone: E‖x_u W_u‖² = Σ over the unit's features f, g (none for a unit outside the consumer's window) of E[x_f x_g] (W_f · W_g),
    /// from the consumer's second moment.
    /// </summary>
    private static double[] OutputEnergy(OnnxGraph graph, ConsumerStatistics statistics, int units)
    {
        var node = statistics.Consumer.Node;
        var weight = new LayerWeight(node, ConstantSources.Find(graph, node.Input[1])!); // the current weight: an earlier edit may have renamed it
        var weights = weight.ReadColumns();
        var outputs = weight.Rows;
        var features = new List<int>[units];
        for (var u = 0; u < units; u++)
        {
            features[u] = [];
        }

        for (var f = 0; f < statistics.FeatureUnits.Length; f++)
        {
            if (statistics.FeatureUnits[f] >= 0)
            {
                features[statistics.FeatureUnits[f]].Add(f);
            }
        }

        var energy = new double[units];
        var moment = statistics.SecondMoment;
        var d = statistics.Features;
        Parallel.For(0, units, u =>
        {
            double sum = 0;
            foreach (var f in features[u])
            {
                var wf = weights.AsSpan(f * outputs, outputs);
                foreach (var g in features[u])
                {
                    sum += moment[(long)f * d + g] * TensorPrimitives.Dot(wf, weights.AsSpan(g * outputs, outputs));
                }
            }

            energy[u] = sum;
        });
        return energy;
    }
}
