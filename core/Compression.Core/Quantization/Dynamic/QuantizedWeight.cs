namespace Compression.Core.Quantization.Dynamic;

/// <summary>
/// A weight matrix quantized to 8 bits: the codes in the weight's own layout, and one scale and zero point per
/// channel (per column of a MatMul's B, per row of an embedding table) or a single one for the whole tensor.
/// </summary>
internal sealed record QuantizedWeight(byte[] Codes, float[] Scales, int[] ZeroPoints)
{
    public bool PerChannel => Scales.Length > 1;

    public bool HasNonZeroZeroPoint => Array.Exists(ZeroPoints, z => z != 0);
}
