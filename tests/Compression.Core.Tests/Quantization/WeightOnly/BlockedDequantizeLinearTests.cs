using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Tests.Support;
using static Compression.Core.Tests.Passes.GraphBuilder;

namespace Compression.Core.Tests.Quantization.WeightOnly;

/// <summary>
/// What weight-only Convs rely on in ONNX Runtime's CPU provider: DequantizeLinear-21 with block quantization
/// (axis, block_size) on 4- and 8-bit weights, signed without zero points and unsigned with them, blocked along
/// axis 1 of a [M, K] weight whose K the block does not divide, feeding a Reshape and a float Conv.
/// </summary>
public sealed class BlockedDequantizeLinearTests : IDisposable
{
    private const int M = 6;
    private const int Channels = 10;
    private const int Taps = 9;
    private const int K = Channels * Taps;
    private const int Block = 32;
    private const int Blocks = (K + Block - 1) / Block;

    private readonly string temp = TestAssets.TempDirectory();

    public void Dispose() => Directory.Delete(temp, recursive: true);

    [Theory]
    [InlineData(ElementType.Int4)]
    [InlineData(ElementType.UInt4)]
    [InlineData(ElementType.Int8)]
    [InlineData(ElementType.UInt8)]
    public void Onnx_runtime_runs_blocked_dequantize_linear_21_into_a_conv(ElementType type)
    {
        var random = new Random(5);
        var signed = type is ElementType.Int4 or ElementType.Int8;
        var (low, high) = type switch
        {
            ElementType.Int4 => (-8, 7),
            ElementType.UInt4 => (0, 15),
            ElementType.Int8 => (-128, 127),
            _ => (0, 255),
        };
        var codes = new int[M * K];
        for (var i = 0; i < codes.Length; i++)
        {
            codes[i] = random.Next(low, high + 1);
        }

        var scales = new float[M * Blocks];
        var zeroPoints = new int[M * Blocks];
        for (var i = 0; i < scales.Length; i++)
        {
            scales[i] = 0.01f + (float)random.NextDouble() * 0.05f;
            zeroPoints[i] = signed ? 0 : random.Next(low, high + 1);
        }

        // The weight the Conv should see: scale of the value's block times (code - zero point).
        var weight = new float[M * K];
        for (var m = 0; m < M; m++)
        {
            for (var k = 0; k < K; k++)
            {
                var b = m * Blocks + k / Block;
                weight[m * K + k] = scales[b] * (codes[m * K + k] - zeroPoints[b]);
            }
        }

        var dequantize = Node("DequantizeLinear", signed ? ["w_q", "w_scale"] : ["w_q", "w_scale", "w_zero_point"], ["w_flat"], "dequantize");
        dequantize.Attribute.Add(Int("axis", 1));
        dequantize.Attribute.Add(Int("block_size", Block));
        var initializers = new List<TensorProto>
        {
            TensorCodec.FromRaw("w_q", [M, K], type, Pack(codes, type)),
            TensorCodec.FromSingle("w_scale", [M, Blocks], scales, ElementType.Float),
            TensorCodec.FromInt64("w_shape", [4], [M, Channels, 3, 3]),
        };
        if (!signed)
        {
            initializers.Add(TensorCodec.FromRaw("w_zero_point", [M, Blocks], type, Pack(zeroPoints, type)));
        }

        var conv = Node("Conv", ["x", "w"], ["y"], "conv");
        conv.Attribute.Add(Ints("pads", 1, 1, 1, 1));
        var quantized = Model([dequantize, Node("Reshape", ["w_flat", "w_shape"], ["w"], "reshape"), conv],
            [Value("x", ElementType.Float, 1, Channels, 5, 5)], [Value("y", ElementType.Float, 1, M, 5, 5)], initializers, opset: 21, irVersion: 10);
        var reference = Model([conv.Clone()], [Value("x", ElementType.Float, 1, Channels, 5, 5)], [Value("y", ElementType.Float, 1, M, 5, 5)],
            [TensorCodec.FromSingle("w", [M, Channels, 3, 3], weight, ElementType.Float)]);
        var input = WeightOnlyModels.Tensor("x", random, 1, Channels, 5, 5);

        var expected = Run(reference, temp, ("x", input))[0];
        var actual = Run(quantized, temp, ("x", input))[0];

        for (var i = 0; i < expected.Length; i++)
        {
            Assert.Equal(expected[i], actual[i], 1e-4f);
        }
    }

    /// <summary>Raw bytes of integer codes: one a byte for 8 bits, two a byte (low nibble first, two's complement) for 4.</summary>
    private static byte[] Pack(int[] codes, ElementType type)
    {
        if (type is ElementType.Int8 or ElementType.UInt8)
        {
            return codes.Select(c => (byte)c).ToArray();
        }

        var packed = new byte[(codes.Length + 1) / 2];
        for (var i = 0; i < codes.Length; i++)
        {
            packed[i / 2] |= (byte)((codes[i] & 0xF) << (4 * (i & 1)));
        }

        return packed;
    }
}
