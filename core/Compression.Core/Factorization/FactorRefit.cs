using Compression.Core.Calibration;
using Compression.Core.Data;
using Compression.Core.Diagnostics;
using Compression.Core.Evaluation;
using Compression.Core.Numerics;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;

namespace Compression.Core.Factorization;

/// <summary>
/// Refits the last factor of every split layer by least squares, on what the layer sees in the factored model: the
/// original model and the factored one run side by side on the calibration data, and the last factor's input there
/// (z, the compressed model's own activations, earlier layers' errors included) is fit to the original layer's output
/// (y): [B; b] = argmin E||z B + b - y||^2, the bias too when the node has one of its own. The fit also measures each
/// layer's relative output error in the factored model, before and after.
/// </summary>
internal static class FactorRefit
{
    /// <summary>One split layer: the original node's output, and the node of its last factor in the factored model.</summary>
    public sealed record Layer(FactorTarget Target, NodeProto Last);

    /// <summary>
    /// Whether a split's last node reads one row per output row: a MatMul or Gemm, or a 1x1 Conv. A Tucker-2 split
    /// whose output rank is the full channel count ends in its k x k core, which reads patches: it is not refit.
    /// </summary>
    public static bool CanRefit(NodeProto last, OnnxGraph graph) =>
        last.OpType != "Conv" || graph.Initializer(last.Input[1]) is { } weight && weight.Dims.Skip(2).All(d => d == 1);

    /// <summary>Refits the layers in <paramref name="factored"/> in place; returns each layer's relative output error (before, after).</summary>
    public static (double Before, double After)[] Run(OnnxModel original, OnnxModel factored, IReadOnlyList<Layer> layers, CalibrationWindow window,
        IDataSource data, ICompressionLog log, CancellationToken cancellation)
    {
        var graph = factored.MainGraph;
        var fits = layers.Select(l => new Fit(l, graph)).ToArray();
        var originalValues = layers.Select(l => l.Target.Node.Output[0]).ToList();
        var factoredValues = layers.Select(l => l.Last.Input[0]).ToList();
        using var reference = ActivationCapture.Capture(original, originalValues, data.FirstSamples(window.Samples), window.BatchSize, Environment.ProcessorCount, cancellation).GetEnumerator();
        var samples = 0;
        foreach (var (batch, values) in ActivationCapture.Capture(factored, factoredValues, data.FirstSamples(window.Samples), window.BatchSize, Environment.ProcessorCount, cancellation))
        {
            if (!reference.MoveNext())
            {
                break;
            }

            var expected = reference.Current.Values;
            for (var i = 0; i < fits.Length; i++)
            {
                fits[i].Add(values[i], expected[i], batch);
            }

            samples += batch.Count;
            log.Progress("Factorization", $"refit: {samples} samples", Math.Min(1, (double)samples / window.Samples));
            if (samples >= window.Samples)
            {
                break;
            }
        }

        var errors = new (double, double)[fits.Length];
        for (var i = 0; i < fits.Length; i++)
        {
            errors[i] = fits[i].Solve(graph);
        }

        return errors;
    }

    /// <summary>The statistics of one layer's fit: E[z z^T], E[z], E[z y^T], E[y], E||y||^2 over the kept rows.</summary>
    private sealed class Fit
    {
        private readonly Layer layer;
        private readonly TensorProto weight;
        private readonly TensorProto? bias;
        private readonly HessianAccumulator moment;
        private readonly ProductAccumulator cross;
        private readonly double[] outputSums;
        private readonly int inputs;
        private readonly int outputs;
        private double outputSquares;
        private long rows;

        public Fit(Layer layer, OnnxGraph graph)
        {
            this.layer = layer;
            var last = layer.Last;
            weight = graph.Initializer(last.Input[1]) ?? throw new InvalidOperationException($"The factor '{last.Input[1]}' is not an initializer.");
            var conv = last.OpType == "Conv";
            inputs = (int)(conv ? weight.Dims[1] : weight.Dims[0]);
            outputs = (int)(conv ? weight.Dims[0] : weight.Dims[1]);
            // The bias is refit only where it is this node's own and one value per output.
            bias = last.Input.Count > 2 && graph.Initializer(last.Input[2]) is { } b && graph.Consumers(b.Name).Count == 1
                && TensorCodec.ElementTypeOf(b) == ElementType.Float && TensorCodec.ElementCount(b) == outputs ? b : null;
            moment = new HessianAccumulator(inputs);
            cross = new ProductAccumulator(inputs, outputs);
            outputSums = new double[outputs];
        }

        public void Add(OutputValue z, OutputValue y, DataBatch batch)
        {
            var zRows = Rows(z, inputs);
            var yRows = Rows(y, outputs);
            bool[] keep = z.Shape.Length == 3 ? HessianCollector.TokenMask(batch, z.Shape) : [];
            if (zRows.Length / inputs != yRows.Length / outputs)
            {
                throw new CompressionException(Diagnostic.Error(ErrorCodes.FactorizeRefitMismatch,
                    $"{layer.Target.Describe} gave {zRows.Length / inputs} rows in the factored model and {yRows.Length / outputs} in the original; they cannot be refit."));
            }

            moment.Add(zRows, keep);
            cross.Add(zRows, yRows, keep);
            var count = yRows.Length / outputs;
            for (var r = 0; r < count; r++)
            {
                if (keep.Length > 0 && !keep[r])
                {
                    continue;
                }

                var row = yRows.AsSpan(r * outputs, outputs);
                for (var o = 0; o < outputs; o++)
                {
                    outputSums[o] += row[o];
                    outputSquares += (double)row[o] * row[o];
                }

                rows++;
            }
        }

        /// <summary>Writes the refit factor (and bias); returns the relative output error before and after.</summary>
        public (double Before, double After) Solve(OnnxGraph graph)
        {
            if (rows == 0)
            {
                return (double.NaN, double.NaN);
            }

            var size = inputs + (bias is null ? 0 : 1);
            var zz = moment.Hessian(); // 2 E[z z^T]
            var zMean = moment.Mean();
            var zy = cross.Mean();
            var yy = outputSquares / rows;
            var system = new double[(long)size * size];
            var right = new double[(long)size * outputs];
            for (var i = 0; i < inputs; i++)
            {
                for (var j = 0; j < inputs; j++)
                {
                    system[(long)i * size + j] = zz[(long)i * inputs + j] / 2;
                }

                Array.Copy(zy, (long)i * outputs, right, (long)i * outputs, outputs);
            }

            if (bias is not null)
            {
                for (var i = 0; i < inputs; i++)
                {
                    system[(long)i * size + inputs] = zMean[i];
                    system[(long)inputs * size + i] = zMean[i];
                }

                system[(long)inputs * size + inputs] = 1;
                for (var o = 0; o < outputs; o++)
                {
                    right[(long)inputs * outputs + o] = outputSums[o] / rows;
                }
            }

            var current = Current();
            var before = Error(system, right, current, size, yy);
            var lower = DiagonalDamping.Factor<double[]>((double[])system.Clone(), size, 1e-6, "second moment of the factor's input", Cholesky.TryLower);
            var upper = Cholesky.Transposed(lower, size);
            var solved = new double[(long)size * outputs];
            var column = new double[size];
            for (var o = 0; o < outputs; o++)
            {
                for (var i = 0; i < size; i++)
                {
                    column[i] = right[(long)i * outputs + o];
                }

                Cholesky.Solve(lower, upper, size, column);
                for (var i = 0; i < size; i++)
                {
                    solved[(long)i * outputs + o] = column[i];
                }
            }

            var after = Error(system, right, solved, size, yy);
            if (!(after < before))
            {
                return (before, before); // the fit is no better on these statistics: keep the factor as it was
            }

            Write(graph, solved);
            return (before, after);
        }

        /// <summary>The factor and bias as they are, [size, outputs] like the solution.</summary>
        private double[] Current()
        {
            var values = TensorCodec.ToSingle(weight);
            var size = inputs + (bias is null ? 0 : 1);
            var current = new double[(long)size * outputs];
            var conv = layer.Last.OpType == "Conv";
            var scale = layer.Last.OpType == "Gemm" ? GraphEdits.FloatAttribute(layer.Last, "beta") ?? 1f : 1f;
            for (var i = 0; i < inputs; i++)
            {
                for (var o = 0; o < outputs; o++)
                {
                    current[(long)i * outputs + o] = conv ? values[(long)o * inputs + i] : values[(long)i * outputs + o];
                }
            }

            if (bias is not null)
            {
                var b = TensorCodec.ToSingle(bias);
                for (var o = 0; o < outputs; o++)
                {
                    current[(long)inputs * outputs + o] = b[o] * scale;
                }
            }

            return current;
        }

        private void Write(OnnxGraph graph, double[] solved)
        {
            var conv = layer.Last.OpType == "Conv";
            var values = new float[(long)inputs * outputs];
            for (var i = 0; i < inputs; i++)
            {
                for (var o = 0; o < outputs; o++)
                {
                    values[conv ? (long)o * inputs + i : (long)i * outputs + o] = (float)solved[(long)i * outputs + o];
                }
            }

            graph.SetInitializer(TensorCodec.FromSingle(weight.Name, weight.Dims.ToArray(), values, ElementType.Float));
            if (bias is not null)
            {
                var scale = layer.Last.OpType == "Gemm" ? GraphEdits.FloatAttribute(layer.Last, "beta") ?? 1f : 1f;
                var b = new float[outputs];
                for (var o = 0; o < outputs; o++)
                {
                    b[o] = (float)(solved[(long)inputs * outputs + o] / scale);
                }

                graph.SetInitializer(TensorCodec.FromSingle(bias.Name, bias.Dims.ToArray(), b, ElementType.Float));
            }
        }

        /// <summary>sqrt(E||z theta - y||^2 / E||y||^2) from the moments: theta^T M theta - 2 theta^T R + E||y||^2.</summary>
        private double Error(double[] system, double[] right, double[] theta, int size, double yy)
        {
            var total = yy;
            for (var o = 0; o < outputs; o++)
            {
                var quadratic = 0.0;
                var linear = 0.0;
                for (var i = 0; i < size; i++)
                {
                    var ti = theta[(long)i * outputs + o];
                    linear += ti * right[(long)i * outputs + o];
                    var row = 0.0;
                    for (var j = 0; j < size; j++)
                    {
                        row += system[(long)i * size + j] * theta[(long)j * outputs + o];
                    }

                    quadratic += ti * row;
                }

                total += quadratic - 2 * linear;
            }

            return yy == 0 ? 0 : Math.Sqrt(Math.Max(0, total) / yy);
        }

        /// <summary>An activation as rows of its features: the last axis of a MatMul's input, the channel axis of a Conv's ([N, C, ...] to [N x positions, C]).</summary>
        private float[] Rows(OutputValue value, int features)
        {
            if (layer.Last.OpType != "Conv")
            {
                return value.Values;
            }

            var positions = 1;
            for (var d = 2; d < value.Shape.Length; d++)
            {
                positions *= (int)value.Shape[d];
            }

            var images = (int)value.Shape[0];
            var rows = new float[value.Values.Length];
            for (var n = 0; n < images; n++)
            {
                Transposition.Transpose<float>(value.Values.AsSpan(n * features * positions, features * positions), features, positions,
                    rows.AsSpan(n * positions * features, positions * features));
            }

            return rows;
        }
    }
}
