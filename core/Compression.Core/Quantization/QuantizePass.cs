using Compression.Core.Onnx;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Options;
using Compression.Core.Passes;
using Compression.Core.Quantization.Dynamic;
using Compression.Core.Quantization.Fallback;
using Compression.Core.Quantization.Float;
using Compression.Core.Quantization.Static;
using Compression.Core.Quantization.WeightOnly;

namespace Compression.Core.Quantization;

/// <summary>
/// The <c>quantize</c> step: picks the quantizer for the mode (dynamic or static int8, weight-only 4/8-bit,
/// float16, bfloat16); each validates its options and the model, and reports what it left in float and why.
/// </summary>
public sealed class QuantizePass : Pass<QuantizeOptions>
{
    public override string Name => "quantize";

    public override string Description =>
        "Quantizes the model: dynamic int8 (no data needed; LSTM as DynamicQuantizeLSTM), static int8 with calibration (QDQ or QOperator; LSTM as DynamicQuantizeLSTM there too), weight-only 4/8-bit blocks (MatMulNBits, Convs through DequantizeLinear, embeddings too), float16 or bfloat16. In the int8 and weight-only modes, LSTM, GRU and RNN weights with no integer kernel are stored in 8 bits per row: the file shrinks, their compute stays float.";

    protected override PassResult Run(OnnxModel model, QuantizeOptions options, PassContext context)
    {
        OptionChecks.ThrowIfInvalid(options, model.Path);
        IModeQuantizer quantizer = options.Mode switch
        {
            QuantizationMode.Dynamic => new DynamicQuantizer(),
            QuantizationMode.Static => new StaticQuantizer(),
            QuantizationMode.WeightOnly => new WeightOnlyQuantizer(),
            QuantizationMode.Float16 => new FloatConverter(ElementType.Float16),
            _ => new FloatConverter(ElementType.BFloat16),
        };
        if (options.Fallback is not null && options.Mode is QuantizationMode.Dynamic or QuantizationMode.WeightOnly)
        {
            quantizer = new FallbackQuantizer(quantizer);
        }

        return quantizer.Quantize(model, options, context);
    }
}
