namespace Compression.Core.Data.Sampling;

/// <summary>
/// Pixel normalization: <c>(value * scale - mean[c]) / std[c]</c>, with one mean and std for all channels or
/// one per channel.
/// </summary>
public sealed class Normalization
{
    private readonly float scale;
    private readonly float[] mean;
    private readonly float[] std;

    public Normalization(double scale, double[]? mean, double[]? std, string? path)
    {
        mean ??= [0];
        std ??= [1];
        if (mean.Length == 0 || std.Length == 0 || Array.Exists(std, s => s == 0) || double.IsNaN(scale))
        {
            throw DataErrors.Option(path, "mean and std need at least one value each, and std no zero.");
        }

        this.scale = (float)scale;
        this.mean = Array.ConvertAll(mean, m => (float)m);
        this.std = Array.ConvertAll(std, s => (float)s);
    }

    public static Normalization From(DataSetSpec spec, string? path) => new(spec.Scale ?? 1.0 / 255, spec.Mean, spec.Std, path);

    /// <summary>Fails unless mean and std have one value or exactly <paramref name="channels"/>.</summary>
    public void RequireChannels(int channels, string path)
    {
        if ((mean.Length != 1 && mean.Length != channels) || (std.Length != 1 && std.Length != channels))
        {
            throw DataErrors.Option(path, $"mean and std need 1 or {channels} values (one per channel); got {mean.Length} and {std.Length}.");
        }
    }

    /// <summary>Normalizes channel-planar values (all of channel 0, then channel 1, ...).</summary>
    public void Planar(ReadOnlySpan<float> source, Span<float> destination, int channels)
    {
        var plane = source.Length / channels;
        for (var c = 0; c < channels; c++)
        {
            var m = mean[mean.Length == 1 ? 0 : c];
            var inverseStd = 1f / std[std.Length == 1 ? 0 : c];
            var from = source.Slice(c * plane, plane);
            var to = destination.Slice(c * plane, plane);
            for (var i = 0; i < from.Length; i++)
            {
                to[i] = (from[i] * scale - m) * inverseStd;
            }
        }
    }

    /// <summary>Normalizes channel-interleaved values (HWC: the channels of one pixel together).</summary>
    public void Interleaved(ReadOnlySpan<float> source, Span<float> destination, int channels)
    {
        Span<float> m = stackalloc float[channels];
        Span<float> inverseStd = stackalloc float[channels];
        for (var c = 0; c < channels; c++)
        {
            m[c] = mean[mean.Length == 1 ? 0 : c];
            inverseStd[c] = 1f / std[std.Length == 1 ? 0 : c];
        }

        for (var i = 0; i < source.Length; i += channels)
        {
            for (var c = 0; c < channels; c++)
            {
                destination[i + c] = (source[i + c] * scale - m[c]) * inverseStd[c];
            }
        }
    }
}
