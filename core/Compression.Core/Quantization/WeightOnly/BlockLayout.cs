namespace Compression.Core.Quantization.WeightOnly;

/// <summary>
/// How weights are cut and coded: <see cref="Bits"/>-bit unsigned codes, one scale (and zero point when asymmetric)
/// per <see cref="BlockSize"/> consecutive values of a row. Symmetric blocks use the middle code 2^(bits-1) as zero
/// point, which is what MatMulNBits and GatherBlockQuantized assume when no zero_points input is given.
/// </summary>
internal readonly record struct BlockLayout(int Bits, int BlockSize, bool Symmetric)
{
    public int MaxCode => (1 << Bits) - 1;

    public int SymmetricZeroPoint => 1 << (Bits - 1);

    public int BlockCount(int length) => (length + BlockSize - 1) / BlockSize;
}
