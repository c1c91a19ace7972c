using Compression.Core.Data.Sampling;

namespace Compression.Core.Data.Sources.Images;

/// <summary>How an <see cref="ImageFolderDataSource"/> turns images into tensors (see <see cref="DataSetSpec"/> for each).</summary>
public sealed record ImageOptions(Normalization Normalization, ImageSize? Resize = null, ImageSize? Crop = null,
    ChannelOrder ChannelOrder = ChannelOrder.Rgb, TensorLayout Layout = TensorLayout.Nchw, string? LabelsFile = null);
