using Compression.Core.Onnx;
using Compression.Core.Passes;

namespace Compression.Core.Quantization;

/// <summary>Quantizes a model in one mode; the <c>quantize</c> pass picks the quantizer by <see cref="QuantizeOptions.Mode"/>.</summary>
internal interface IModeQuantizer
{
    /// <summary>
    /// Rewrites the model; returns it with the mode's <see cref="QuantizeResult"/> and its per-layer rows. Nodes it
    /// leaves alone are reported as warnings through <c>context.Log</c> with the reason. Never returns a model ONNX
    /// Runtime cannot load.
    /// </summary>
    PassResult Quantize(OnnxModel model, QuantizeOptions options, PassContext context);
}
