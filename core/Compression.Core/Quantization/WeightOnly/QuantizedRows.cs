namespace Compression.Core.Quantization.WeightOnly;

/// <summary>
/// A float matrix quantized row by row in blocks: one code per value (a byte each, not yet packed), a scale and a
/// zero point per block. Value j of row r is Scales[b] * (Codes[r * Length + j] - ZeroPoints[b]) with
/// b = r * BlocksPerRow + j / BlockSize.
/// </summary>
internal sealed class QuantizedRows
{
    public QuantizedRows(int rows, int length, BlockLayout layout)
    {
        Rows = rows;
        Length = length;
        Layout = layout;
        BlocksPerRow = layout.BlockCount(length);
        Codes = new byte[(long)rows * length];
        Scales = new float[rows * BlocksPerRow];
        ZeroPoints = new byte[rows * BlocksPerRow];
    }

    public int Rows { get; }

    /// <summary>Values per row (the reduction dimension K of a MatMul, the hidden size of an embedding table).</summary>
    public int Length { get; }

    public BlockLayout Layout { get; }

    public int BlocksPerRow { get; }

    public byte[] Codes { get; }

    public float[] Scales { get; }

    public byte[] ZeroPoints { get; }

    /// <summary>
    /// The codes packed as MatMulNBits' B ([rows, blocks, blockSize * bits / 8]) or, without padding, as
    /// GatherBlockQuantized's uint8 data ([rows, length * bits / 8]). 4-bit codes go two to a byte, the first in the
    /// low nibble. The padding of a last partial block holds the zero point, so it decodes to 0.
    /// </summary>
    public byte[] PackCodes(bool padToBlocks)
    {
        var stride = padToBlocks ? BlocksPerRow * Layout.BlockSize : Length;
        var rowBytes = stride * Layout.Bits / 8;
        var packed = new byte[(long)Rows * rowBytes];
        for (var r = 0; r < Rows; r++)
        {
            var codes = Codes.AsSpan(r * Length, Length);
            var target = packed.AsSpan(r * rowBytes, rowBytes);
            if (Layout.Bits == 8)
            {
                codes.CopyTo(target);
                target[Length..].Fill((byte)ZeroPoints[(r + 1) * BlocksPerRow - 1]);
                continue;
            }

            var padding = (byte)ZeroPoints[(r + 1) * BlocksPerRow - 1];
            for (var j = 0; j < stride; j += 2)
            {
                var low = j < Length ? codes[j] : padding;
                var high = j + 1 < Length ? codes[j + 1] : padding;
                target[j / 2] = (byte)(low | (high << 4));
            }
        }

        return packed;
    }

    /// <summary>Zero points packed per row into ceil(blocks * bits / 8) bytes, 4-bit ones low nibble first.</summary>
    public byte[] PackZeroPoints()
    {
        var rowBytes = (BlocksPerRow * Layout.Bits + 7) / 8;
        var packed = new byte[Rows * rowBytes];
        for (var r = 0; r < Rows; r++)
        {
            var zeroPoints = ZeroPoints.AsSpan(r * BlocksPerRow, BlocksPerRow);
            var target = packed.AsSpan(r * rowBytes, rowBytes);
            if (Layout.Bits == 8)
            {
                zeroPoints.CopyTo(target);
                continue;
            }

            for (var b = 0; b < BlocksPerRow; b++)
            {
                target[b / 2] |= (byte)(zeroPoints[b] << (4 * (b & 1)));
            }
        }

        return packed;
    }

    /// <summary>
    /// The codes as the data of an ONNX [rows, length] tensor of int4/uint4 or int8/uint8 (DequantizeLinear's input):
    /// 4-bit ones two to a byte straight across row ends, the first in the low nibble. <paramref name="offset"/> is
    /// subtracted first: with the symmetric zero point it gives signed codes whose zero point is 0.
    /// </summary>
    public byte[] PackTensor(int offset) => PackElements(Codes, Layout.Bits, offset);

    /// <summary>The zero points as the data of a [rows, blocks] uint4 or uint8 tensor, packed as <see cref="PackTensor"/> packs codes.</summary>
    public byte[] PackZeroPointTensor() => PackElements(ZeroPoints, Layout.Bits, 0);

    /// <summary>Takes the codes, scales and zero points of <paramref name="part"/> (same length and layout) as rows from <paramref name="firstRow"/> on.</summary>
    public void CopyRows(QuantizedRows part, int firstRow)
    {
        part.Codes.CopyTo(Codes, (long)firstRow * Length);
        part.Scales.CopyTo(Scales, firstRow * BlocksPerRow);
        part.ZeroPoints.CopyTo(ZeroPoints, firstRow * BlocksPerRow);
    }

    private static byte[] PackElements(ReadOnlySpan<byte> values, int bits, int offset)
    {
        if (bits == 8)
        {
            var bytes = new byte[values.Length];
            for (var i = 0; i < values.Length; i++)
            {
                bytes[i] = (byte)(values[i] - offset);
            }

            return bytes;
        }

        var packed = new byte[(values.Length + 1) / 2];
        for (var i = 0; i < values.Length; i++)
        {
            packed[i / 2] |= (byte)(((values[i] - offset) & 0xF) << (4 * (i & 1)));
        }

        return packed;
    }
}
