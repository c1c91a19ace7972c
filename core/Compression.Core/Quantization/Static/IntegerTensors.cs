using System.Buffers.Binary;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;

namespace Compression.Core.Quantization.Static;

/// <summary>Packs quantized integers (held in ints) into tensors of 8, 16 or 32-bit element types.</summary>
internal static class IntegerTensors
{
    public static TensorProto Create(string name, ReadOnlySpan<long> dims, ReadOnlySpan<int> values, ElementType type)
    {
        var width = ElementTypes.BitWidth(type) / 8;
        var raw = new byte[values.Length * width];
        for (var i = 0; i < values.Length; i++)
        {
            switch (type)
            {
                case ElementType.UInt8:
                    raw[i] = (byte)values[i];
                    break;
                case ElementType.Int8:
                    raw[i] = unchecked((byte)(sbyte)values[i]);
                    break;
                case ElementType.UInt16:
                    BinaryPrimitives.WriteUInt16LittleEndian(raw.AsSpan(i * 2), (ushort)values[i]);
                    break;
                case ElementType.Int16:
                    BinaryPrimitives.WriteInt16LittleEndian(raw.AsSpan(i * 2), (short)values[i]);
                    break;
                case ElementType.Int32:
                    BinaryPrimitives.WriteInt32LittleEndian(raw.AsSpan(i * 4), values[i]);
                    break;
                default:
                    throw new ArgumentException($"Quantized tensors are 8, 16 or 32-bit integers, not {ElementTypes.OnnxName(type)}.", nameof(type));
            }
        }

        return TensorCodec.FromRaw(name, dims, type, raw);
    }

    /// <summary>A zero-point tensor: one value, or one per channel.</summary>
    public static TensorProto ZeroPoints(string name, ReadOnlySpan<int> zeroPoints, bool perChannel, ElementType type) =>
        Create(name, perChannel ? [zeroPoints.Length] : [], zeroPoints, type);

    public static TensorProto Scales(string name, ReadOnlySpan<float> scales, bool perChannel) =>
        TensorCodec.FromSingle(name, perChannel ? [scales.Length] : [], scales, ElementType.Float);
}
