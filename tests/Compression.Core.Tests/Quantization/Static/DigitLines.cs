using System.IO.Compression;
using Compression.Core.Data;
using Compression.Core.Onnx.Tensors;

namespace Compression.Core.Tests.Quantization.Static;

/// <summary>
/// Text-line images made from real handwriting for an OCR recognizer: ten MNIST test digits side by side, dark ink on
/// a light background, scaled to the line height, normalized as PaddleOCR expects ((x - 0.5) / 0.5), one line per
/// sample as [1, 3, 48, 320]. The photos hold no text, so a recognizer's per-step top-1 there is mostly near-ties
/// between "blank" and a random character; on lines of digits its decisions mean something.
/// </summary>
internal sealed class DigitLines(int skipLines, int lines) : IDataSource
{
    private const int Height = 48;
    private const int Width = 320;
    private const int DigitsPerLine = 10;
    private const int Glyph = 28;
    private const int Scaled = 32; // 28 px digits drawn at 32 px: one digit every 32 px fills the 320 px line

    public string Name => "mnist-digit-lines";

    public bool IsSynthetic => false;

    public long? Count => lines;

    public IEnumerable<DataBatch> ReadBatches(ModelSignature model, int batchSize, CancellationToken cancellationToken = default)
    {
        var input = model.Inputs[0].Name;
        var images = ReadImages(StaticTestData.MnistFile("t10k-images-idx3-ubyte.gz"), (skipLines + lines) * DigitsPerLine);
        for (var first = 0; first < lines; first += batchSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var count = Math.Min(batchSize, lines - first);
            var values = new float[count * 3 * Height * Width];
            for (var s = 0; s < count; s++)
            {
                Draw(images, (skipLines + first + s) * DigitsPerLine, values.AsSpan(s * 3 * Height * Width, 3 * Height * Width));
            }

            yield return new DataBatch(count, [new TensorData(input, ElementType.Float, [count, 3, Height, Width], values)]);
        }
    }

    private static void Draw(byte[] images, int firstDigit, Span<float> target)
    {
        var top = (Height - Scaled) / 2;
        for (var y = 0; y < Height; y++)
        {
            for (var x = 0; x < Width; x++)
            {
                var ink = 0f;
                var digit = x / Scaled;
                var (gy, gx) = ((y - top) * Glyph / Scaled, x % Scaled * Glyph / Scaled);
                if (y >= top && y < top + Scaled && digit < DigitsPerLine)
                {
                    ink = images[(firstDigit + digit) * Glyph * Glyph + gy * Glyph + gx] / 255f;
                }

                var value = (1 - ink - 0.5f) / 0.5f;
                for (var c = 0; c < 3; c++)
                {
                    target[c * Height * Width + y * Width + x] = value;
                }
            }
        }
    }

    private static byte[] ReadImages(string path, int count)
    {
        using var stream = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        var header = new byte[16];
        stream.ReadExactly(header);
        var pixels = new byte[count * Glyph * Glyph];
        stream.ReadExactly(pixels);
        return pixels;
    }
}
