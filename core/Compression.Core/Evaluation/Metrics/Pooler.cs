using System.Numerics.Tensors;
using Compression.Core.Data;

namespace Compression.Core.Evaluation.Metrics;

/// <summary>One vector per sample from an output: token vectors pooled over the sequence, or each sample's values as they are.</summary>
internal static class Pooler
{
    /// <summary>
    /// With <paramref name="tokens"/> and a [batch, sequence, hidden] output: the mean of the token vectors the attention
    /// mask keeps (every token without a mask, or when the mask does not match the output), or the first token's
    /// vector with <see cref="Pooling.Cls"/>. Otherwise each sample's values, flattened.
    /// </summary>
    public static float[][] Vectors(OutputValue output, TensorData? mask, Pooling pooling, bool tokens)
    {
        var batch = output.Shape.Length == 0 ? 1 : (int)output.Shape[0];
        if (!tokens || output.Shape.Length != 3)
        {
            var width = batch == 0 ? 0 : output.Values.Length / batch;
            return Enumerable.Range(0, batch).Select(s => output.Values.AsSpan(s * width, width).ToArray()).ToArray();
        }

        var sequence = (int)output.Shape[1];
        var hidden = (int)output.Shape[2];
        var keep = mask?.Values is long[] m && m.Length == batch * sequence ? m : null;
        var pooled = new float[batch][];
        for (var s = 0; s < batch; s++)
        {
            var vector = pooled[s] = new float[hidden];
            if (pooling == Pooling.Cls)
            {
                output.Values.AsSpan(s * sequence * hidden, hidden).CopyTo(vector);
                continue;
            }

            var kept = 0;
            for (var t = 0; t < sequence; t++)
            {
                if (keep is not null && keep[s * sequence + t] == 0)
                {
                    continue;
                }

                kept++;
                TensorPrimitives.Add(vector, output.Values.AsSpan((s * sequence + t) * hidden, hidden), vector);
            }

            TensorPrimitives.Divide(vector, Math.Max(1, kept), vector);
        }

        return pooled;
    }

    /// <summary>Cosine similarity; 1 when both vectors are zero, 0 when only one is.</summary>
    public static double Cosine(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double dot = 0, aa = 0, bb = 0;
        for (var i = 0; i < a.Length; i++)
        {
            dot += (double)a[i] * b[i];
            aa += (double)a[i] * a[i];
            bb += (double)b[i] * b[i];
        }

        return aa == 0 || bb == 0 ? (aa == bb ? 1 : 0) : dot / Math.Sqrt(aa * bb);
    }
}
