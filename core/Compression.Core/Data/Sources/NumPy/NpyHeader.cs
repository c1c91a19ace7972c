using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Compression.Core.Onnx.Tensors;

namespace Compression.Core.Data.Sources.NumPy;

/// <summary>
/// The header of a NumPy <c>.npy</c> array (format versions 1.0, 2.0 and 3.0): its element type, its shape, and
/// where the data starts. Only little-endian, C-ordered arrays of plain numeric dtypes are read.
/// </summary>
internal sealed partial record NpyHeader(ElementType Type, int ItemSize, long[] Shape, long DataOffset)
{
    private static ReadOnlySpan<byte> Magic => [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    /// <summary>Samples: the first dim.</summary>
    public long Count => Shape[0];

    /// <summary>The dims of one sample (the array's dims after the first).</summary>
    public long[] SampleDims => Shape[1..];

    public int SampleElements => checked((int)Sampling.BatchShapes.Product(SampleDims));

    public int SampleBytes => SampleElements * ItemSize;

    public long DataBytes => Count * SampleBytes;

    /// <summary>Reads the header from the start of <paramref name="stream"/>, leaving it at the first data byte.</summary>
    public static NpyHeader Read(Stream stream, string path)
    {
        Span<byte> preamble = stackalloc byte[8];
        if (!TryFill(stream, preamble) || !preamble[..6].SequenceEqual(Magic))
        {
            throw DataErrors.Corrupt(path, $"'{path}' is not a NumPy .npy array: it does not start with \\x93NUMPY.");
        }

        var major = preamble[6];
        if (major is < 1 or > 3)
        {
            throw DataErrors.Corrupt(path, $"'{path}' is .npy format version {major}.{preamble[7]}; versions 1.0, 2.0 and 3.0 are read.");
        }

        Span<byte> lengthBytes = stackalloc byte[major == 1 ? 2 : 4];
        if (!TryFill(stream, lengthBytes))
        {
            throw DataErrors.Corrupt(path, $"'{path}' ends inside its .npy header.");
        }

        var length = major == 1 ? BinaryPrimitives.ReadUInt16LittleEndian(lengthBytes) : BinaryPrimitives.ReadUInt32LittleEndian(lengthBytes);
        if (length > 1 << 20)
        {
            throw DataErrors.Corrupt(path, $"'{path}' declares a .npy header of {length} bytes.");
        }

        var headerBytes = new byte[length];
        if (!TryFill(stream, headerBytes))
        {
            throw DataErrors.Corrupt(path, $"'{path}' ends inside its .npy header.");
        }

        var text = (major == 3 ? Encoding.UTF8 : Encoding.Latin1).GetString(headerBytes);
        return Parse(text, 8 + lengthBytes.Length + length, path);
    }

    private static NpyHeader Parse(string header, long dataOffset, string path)
    {
        var descr = Descr().Match(header);
        var fortran = FortranOrder().Match(header);
        var shape = ShapeTuple().Match(header);
        if (!descr.Success || !fortran.Success || !shape.Success)
        {
            throw DataErrors.Corrupt(path, $"'{path}' has a .npy header without descr, fortran_order and shape: {header.Trim()}");
        }

        if (fortran.Groups[1].Value == "True")
        {
            throw DataErrors.Unsupported(path, $"'{path}' is stored in Fortran (column-major) order; save it in C order (np.ascontiguousarray).");
        }

        var dtype = descr.Groups[1].Value;
        if (dtype.StartsWith('>'))
        {
            throw DataErrors.Unsupported(path, $"'{path}' is big-endian ({dtype}); save it little-endian (a.astype('<{dtype[1..]}')).");
        }

        var (type, size) = dtype is ['<' or '|', ..] ? TypeOf(dtype[1..]) : (ElementType.Undefined, 0);
        if (type == ElementType.Undefined)
        {
            throw DataErrors.Unsupported(path, $"'{path}' has dtype '{dtype}'; the dtypes read are <f4 <f8 <f2 <i8 <i4 <i2 |i1 |u1 |b1 <u2 <u4 <u8.");
        }

        var dims = shape.Groups[1].Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (dims.Length == 0)
        {
            throw DataErrors.Shape(path, $"'{path}' holds a scalar; a data array needs the samples as its first dim.");
        }

        var parsed = new long[dims.Length];
        for (var i = 0; i < dims.Length; i++)
        {
            if (!long.TryParse(dims[i].TrimEnd('L'), NumberStyles.None, CultureInfo.InvariantCulture, out parsed[i]))
            {
                throw DataErrors.Corrupt(path, $"'{path}' has a .npy shape that is not a tuple of sizes: ({shape.Groups[1].Value}).");
            }
        }

        return new NpyHeader(type, size, parsed, dataOffset);
    }

    private static (ElementType Type, int Size) TypeOf(string code) => code switch
    {
        "f4" => (ElementType.Float, 4),
        "f8" => (ElementType.Double, 8),
        "f2" => (ElementType.Float16, 2),
        "i8" => (ElementType.Int64, 8),
        "i4" => (ElementType.Int32, 4),
        "i2" => (ElementType.Int16, 2),
        "i1" => (ElementType.Int8, 1),
        "u1" => (ElementType.UInt8, 1),
        "b1" => (ElementType.Bool, 1),
        "u2" => (ElementType.UInt16, 2),
        "u4" => (ElementType.UInt32, 4),
        "u8" => (ElementType.UInt64, 8),
        _ => (ElementType.Undefined, 0),
    };

    internal static bool TryFill(Stream stream, Span<byte> buffer)
    {
        try
        {
            return stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false) == buffer.Length;
        }
        catch (InvalidDataException)
        {
            return false;
        }
    }

    [GeneratedRegex(@"'descr'\s*:\s*'([^']*)'")]
    private static partial Regex Descr();

    [GeneratedRegex(@"'fortran_order'\s*:\s*(True|False)")]
    private static partial Regex FortranOrder();

    [GeneratedRegex(@"'shape'\s*:\s*\(([^)]*)\)")]
    private static partial Regex ShapeTuple();
}
