using System.Diagnostics;
using Compression.Core.Data;
using Compression.Core.Evaluation;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;

namespace Compression.Core.Factorization;

/// <summary>
/// Times one layer dense against its factors with ONNX Runtime on this machine: each is a model of its own (the layer's
/// input at batch 1, the node or nodes, the output), run on the same input, alternating in rounds so a slow spell of
/// the machine falls on both alike (batch 1, one thread, the median of each).
/// </summary>
internal static class FactorTiming
{
    private const int Warmup = 5;
    private const int Rounds = 10;
    private const int RunsPerRound = 15;

    /// <summary>Dense time over factored time: above 1 the factors are faster.</summary>
    public static double Speedup(OnnxModel model, FactorTarget target, NodeProto[] factoredNodes, IReadOnlyList<TensorProto> factorTensors,
        long[] inputShape, float[] input, CancellationToken cancellation)
    {
        var folder = Path.Combine(Path.GetTempPath(), "compression", $"factor-timing-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        try
        {
            var node = target.Node;
            var bias = node.Input.Count > 2 && node.Input[2].Length > 0 ? model.MainGraph.Initializer(node.Input[2]) : null;
            if (node.Input.Count > 2 && node.Input[2].Length > 0 && bias is null)
            {
                return double.NaN; // a bias computed in the graph: the layer cannot stand alone
            }

            var extras = bias is null ? new List<TensorProto>() : [bias];
            var dense = Save(model, folder, "dense", [node], [target.Weight.Tensor, .. extras], node.Input[0], node.Output[0], inputShape);
            var factored = Save(model, folder, "factored", factoredNodes, [.. factorTensors, .. extras], node.Input[0], node.Output[0], inputShape);
            var batch = new DataBatch(1, [new TensorData(node.Input[0], ElementType.Float, inputShape, input)]);
            using var denseRunner = new ModelRunner(dense, new RunnerOptions { Threads = 1 });
            using var factoredRunner = new ModelRunner(factored, new RunnerOptions { Threads = 1 });
            ModelRunner[] runners = [denseRunner, factoredRunner];
            foreach (var runner in runners)
            {
                for (var i = 0; i < Warmup; i++)
                {
                    runner.Run(batch);
                }
            }

            var times = new double[2][];
            times[0] = new double[Rounds * RunsPerRound];
            times[1] = new double[Rounds * RunsPerRound];
            for (var round = 0; round < Rounds; round++)
            {
                for (var m = 0; m < 2; m++)
                {
                    for (var i = 0; i < RunsPerRound; i++)
                    {
                        cancellation.ThrowIfCancellationRequested();
                        var start = Stopwatch.GetTimestamp();
                        runners[m].Run(batch);
                        times[m][round * RunsPerRound + i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                    }
                }
            }

            return Median(times[0]) / Median(times[1]);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static string Save(OnnxModel model, string folder, string name, IEnumerable<NodeProto> nodes, IEnumerable<TensorProto> tensors,
        string input, string output, long[] inputShape)
    {
        var graph = new GraphProto { Name = name };
        graph.Node.AddRange(nodes.Select(n => n.Clone()));
        graph.Initializer.AddRange(tensors);
        graph.Input.Add(Value(input, inputShape));
        graph.Output.Add(Value(output, null));
        var proto = new ModelProto { IrVersion = model.Proto.IrVersion, Graph = graph };
        proto.OpsetImport.AddRange(model.Proto.OpsetImport.Where(o => o.Domain.Length == 0 || o.Domain == "ai.onnx"));
        var path = Path.Combine(folder, name + ".onnx");
        ModelWriter.Save(new OnnxModel(proto), path);
        return path;
    }

    private static ValueInfoProto Value(string name, long[]? shape)
    {
        var type = new TypeProto.Types.Tensor { ElemType = (int)ElementType.Float };
        if (shape is not null)
        {
            type.Shape = new TensorShapeProto();
            type.Shape.Dim.AddRange(shape.Select(d => new TensorShapeProto.Types.Dimension { DimValue = d }));
        }

        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = type } };
    }

    private static double Median(double[] values)
    {
        Array.Sort(values);
        return values.Length % 2 == 1 ? values[values.Length / 2] : (values[values.Length / 2 - 1] + values[values.Length / 2]) / 2;
    }
}
