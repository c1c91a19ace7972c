namespace Compression.Core.Quantization.Dynamic;

/// <summary>How a dynamically quantized MatMul or Gemm is written.</summary>
internal enum DynamicMatMulForm
{
    /// <summary>
    /// One com.microsoft DynamicQuantizeMatMul node with the bias folded in: what ONNX Runtime fuses the other form
    /// into anyway, works at any opset, and the smaller graph. On MiniLM (batch 1, one thread) the two forms timed
    /// the same within this shared machine's noise (0.2-0.4x float32 at 32 and 128 tokens).
    /// </summary>
    DynamicQuantizeMatMul,

    /// <summary>
    /// Standard ops only (opset 11+): DynamicQuantizeLinear, MatMulInteger, Cast, the scale Mul and a bias Add, for
    /// runtimes without Microsoft's contrib ops. ONNX Runtime fuses it back to about the first form's speed.
    /// </summary>
    MatMulInteger,
}
