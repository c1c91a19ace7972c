namespace Compression.Core.Quantization.Dynamic;

/// <summary>The initializer names of one quantized weight.</summary>
internal sealed record QuantizedInitializers(string Codes, string Scale, string? ZeroPoint);
