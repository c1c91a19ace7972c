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
}
