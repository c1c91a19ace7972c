using System.Numerics.Tensors;
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
                    var norms = UnitSlices.Norms(Onnx.Tensors.TensorCodec.ToSingle(weight), weight.Dims, tensor.Axis, tensor.Block, group.Units,
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
                    AddNormalized(total, s.UnitZeros.Select(z => 1 - z).ToArray());
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

    /// <summary>The units with the lowest scores (ties: the later unit goes first), ascending.</summary>
    public static int[] Lowest(double[] scores, int count) =>
        Enumerable.Range(0, scores.Length).OrderBy(u => scores[u]).ThenByDescending(u => u).Take(count).Order().ToArray();

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
    /// Output error of removing a unit alone: E‖x_u W_u‖² = Σ over the unit's features f, g of E[x_f x_g] (W_f · W_g),
    /// from the consumer's second moment.
    /// </summary>
    private static double[] OutputEnergy(OnnxGraph graph, ConsumerStatistics statistics, int units)
    {
        var weights = WeightMatrix.Read(graph, statistics.Consumer, out var outputs);
        var perUnit = statistics.FeaturesPerUnit;
        var energy = new double[units];
        var moment = statistics.SecondMoment;
        var d = statistics.Features;
        Parallel.For(0, units, u =>
        {
            double sum = 0;
            for (var f = u * perUnit; f < (u + 1) * perUnit; f++)
            {
                var wf = weights.AsSpan(f * outputs, outputs);
                for (var g = u * perUnit; g < (u + 1) * perUnit; g++)
                {
                    sum += moment[(long)f * d + g] * TensorPrimitives.Dot(wf, weights.AsSpan(g * outputs, outputs));
                }
            }

            energy[u] = sum;
        });
        return energy;
    }
}
