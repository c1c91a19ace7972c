namespace Compression.Core.Data;

/// <summary>Where an image model keeps its channel dimension.</summary>
public enum TensorLayout
{
    /// <summary>[batch, channels, height, width]: the ONNX and PyTorch default.</summary>
    Nchw,

    /// <summary>[batch, height, width, channels]: TensorFlow's default.</summary>
    Nhwc,
}
