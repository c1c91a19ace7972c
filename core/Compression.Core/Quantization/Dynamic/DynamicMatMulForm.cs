namespace Compression.Core.Quantization.Dynamic;

/// <summary>How a dynamically quantized MatMul or Gemm is written.</summary>
internal enum DynamicMatMulForm
{
    /// <summary>One com.microsoft DynamicQuantizeMatMul node with the bias folded in: the fastest in ONNX Runtime here.</summary>
    DynamicQuantizeMatMul,

    /// <summary>
    /// Standard ops only (opset 11+): DynamicQuantizeLinear, MatMulInteger, Cast, the scale Mul and a bias Add, for
    /// runtimes without Microsoft's contrib ops. ONNX Runtime fuses it back to about the first form's speed.
    /// </summary>
    MatMulInteger,
}
