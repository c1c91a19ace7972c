namespace Compression.Core.Data;

/// <summary>The order of the color channels an image model expects.</summary>
public enum ChannelOrder
{
    Rgb,
    Bgr,
}
