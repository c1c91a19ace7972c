namespace Compression.Core.Data.Sources.Images;

/// <summary>Image kernels on float pixels held row by row with interleaved channels (HWC), span in, span out.</summary>
public static class ImageTransforms
{
    /// <summary>
    /// Bilinear resize with half-pixel centers (as PIL and torchvision without antialiasing): destination pixel
    /// (x, y) samples the source at ((x + 0.5) * sw / dw - 0.5, (y + 0.5) * sh / dh - 0.5), clamped to the edges.
    /// </summary>
    public static void ResizeBilinear(ReadOnlySpan<float> source, int width, int height, int channels, Span<float> destination, int newWidth, int newHeight)
    {
        var xScale = (float)width / newWidth;
        var yScale = (float)height / newHeight;
        for (var y = 0; y < newHeight; y++)
        {
            var sy = Math.Clamp(((y + 0.5f) * yScale) - 0.5f, 0, height - 1);
            var y0 = (int)sy;
            var y1 = Math.Min(y0 + 1, height - 1);
            var fy = sy - y0;
            var row0 = source.Slice(y0 * width * channels, width * channels);
            var row1 = source.Slice(y1 * width * channels, width * channels);
            var target = destination.Slice(y * newWidth * channels, newWidth * channels);
            for (var x = 0; x < newWidth; x++)
            {
                var sx = Math.Clamp(((x + 0.5f) * xScale) - 0.5f, 0, width - 1);
                var x0 = (int)sx;
                var x1 = Math.Min(x0 + 1, width - 1);
                var fx = sx - x0;
                for (var c = 0; c < channels; c++)
                {
                    var top = row0[(x0 * channels) + c] + ((row0[(x1 * channels) + c] - row0[(x0 * channels) + c]) * fx);
                    var bottom = row1[(x0 * channels) + c] + ((row1[(x1 * channels) + c] - row1[(x0 * channels) + c]) * fx);
                    target[(x * channels) + c] = top + ((bottom - top) * fy);
                }
            }
        }
    }

    /// <summary>Copies the centered <paramref name="cropWidth"/> x <paramref name="cropHeight"/> window.</summary>
    public static void CenterCrop(ReadOnlySpan<float> source, int width, int height, int channels, Span<float> destination, int cropWidth, int cropHeight)
    {
        var left = (width - cropWidth) / 2;
        var top = (height - cropHeight) / 2;
        for (var y = 0; y < cropHeight; y++)
        {
            source.Slice((((top + y) * width) + left) * channels, cropWidth * channels)
                .CopyTo(destination.Slice(y * cropWidth * channels, cropWidth * channels));
        }
    }

    /// <summary>Reverses the channel order of each pixel in place (RGB to BGR).</summary>
    public static void ReverseChannels(Span<float> pixels, int channels)
    {
        for (var i = 0; i < pixels.Length; i += channels)
        {
            pixels.Slice(i, channels).Reverse();
        }
    }

    /// <summary>Interleaved (HWC) to planar (CHW).</summary>
    public static void ToPlanar(ReadOnlySpan<float> interleaved, Span<float> planar, int channels)
    {
        var pixels = interleaved.Length / channels;
        for (var p = 0; p < pixels; p++)
        {
            for (var c = 0; c < channels; c++)
            {
                planar[(c * pixels) + p] = interleaved[(p * channels) + c];
            }
        }
    }
}
