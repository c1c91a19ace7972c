using System.Globalization;
using Compression.Core.Diagnostics;
using Compression.Core.Onnx.Protobuf;

namespace Compression.Core.Onnx.Tensors;

/// <summary>The <c>external_data</c> entries of a tensor: where its bytes live beside the model.</summary>
public sealed record ExternalDataInfo(string Location, long Offset, long? Length, string? Checksum)
{
    public const string LocationKey = "location";
    public const string OffsetKey = "offset";
    public const string LengthKey = "length";
    public const string ChecksumKey = "checksum";

    public static ExternalDataInfo Parse(TensorProto tensor, string? file = null)
    {
        string? location = null;
        string? checksum = null;
        long offset = 0;
        long? length = null;
        foreach (var entry in tensor.ExternalData)
        {
            switch (entry.Key)
            {
                case LocationKey:
                    location = entry.Value;
                    break;
                case OffsetKey:
                    offset = ParseNumber(tensor, entry, file);
                    break;
                case LengthKey:
                    length = ParseNumber(tensor, entry, file);
                    break;
                case ChecksumKey:
                    checksum = entry.Value;
                    break;
            }
        }

        if (string.IsNullOrEmpty(location))
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.ExternalDataUnsafeLocation,
                $"Tensor '{tensor.Name}' is marked as external data but names no location.", file));
        }

        return new ExternalDataInfo(location, offset, length, checksum);
    }

    /// <summary>Writes these entries into the tensor, replacing any it had, and marks it external.</summary>
    public void ApplyTo(TensorProto tensor)
    {
        tensor.ExternalData.Clear();
        tensor.ExternalData.Add(new StringStringEntryProto { Key = LocationKey, Value = Location });
        tensor.ExternalData.Add(new StringStringEntryProto { Key = OffsetKey, Value = Offset.ToString(CultureInfo.InvariantCulture) });
        if (Length is { } length)
        {
            tensor.ExternalData.Add(new StringStringEntryProto { Key = LengthKey, Value = length.ToString(CultureInfo.InvariantCulture) });
        }

        if (Checksum is not null)
        {
            tensor.ExternalData.Add(new StringStringEntryProto { Key = ChecksumKey, Value = Checksum });
        }

        tensor.DataLocation = TensorProto.Types.DataLocation.External;
        tensor.ClearRawData();
    }

    private static long ParseNumber(TensorProto tensor, StringStringEntryProto entry, string? file)
    {
        if (long.TryParse(entry.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var value))
        {
            return value;
        }

        throw new CompressionException(Diagnostic.Error(ErrorCodes.ExternalDataOutOfRange,
            $"Tensor '{tensor.Name}' has external data {entry.Key} '{entry.Value}', which is not a non-negative integer.", file));
    }
}
