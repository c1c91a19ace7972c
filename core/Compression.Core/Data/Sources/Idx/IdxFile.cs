using System.Buffers.Binary;
using System.IO.Compression;

namespace Compression.Core.Data.Sources.Idx;

/// <summary>
/// One IDX file of unsigned bytes (MNIST's format): a big-endian header <c>00 00 08 rank</c>, the dims, then the
/// samples back to back. Gzipped files (magic 1F 8B) are read as a stream; plain ones with seeks.
/// </summary>
internal sealed class IdxFile
{
    private const byte UnsignedByteType = 0x08;

    private IdxFile(string path, bool gzipped, long[] dims)
    {
        Path = path;
        IsGzipped = gzipped;
        Count = dims[0];
        SampleDims = dims[1..];
        SampleBytes = checked((int)Sampling.BatchShapes.Product(SampleDims));
        DataOffset = 4 + (4 * dims.Length);
    }

    public string Path { get; }

    public bool IsGzipped { get; }

    public long Count { get; }

    /// <summary>The dims of one sample: [28, 28] for MNIST images, [] for labels.</summary>
    public long[] SampleDims { get; }

    public int SampleBytes { get; }

    private long DataOffset { get; }

    /// <summary>Reads the header only.</summary>
    public static IdxFile Open(string path)
    {
        DataErrors.RequireFile(path);
        using var stream = OpenStream(path, out var gzipped);
        Span<byte> magic = stackalloc byte[4];
        if (!TryFill(stream, magic) || magic[0] != 0 || magic[1] != 0)
        {
            throw DataErrors.Corrupt(path, $"'{path}' is not an IDX file: it does not start with the IDX magic 00 00.");
        }

        if (magic[2] != UnsignedByteType)
        {
            throw DataErrors.Unsupported(path, $"'{path}' holds IDX element type 0x{magic[2]:X2}; only unsigned bytes (0x08, as MNIST) are read.");
        }

        var rank = magic[3];
        if (rank == 0)
        {
            throw DataErrors.Corrupt(path, $"'{path}' declares an IDX array of rank 0.");
        }

        var dims = new long[rank];
        Span<byte> dim = stackalloc byte[4];
        for (var i = 0; i < rank; i++)
        {
            if (!TryFill(stream, dim))
            {
                throw DataErrors.Corrupt(path, $"'{path}' ends inside its IDX header.");
            }

            dims[i] = BinaryPrimitives.ReadUInt32BigEndian(dim);
        }

        var file = new IdxFile(path, gzipped, dims);
        if (!gzipped && new FileInfo(path).Length < file.DataOffset + (file.Count * file.SampleBytes))
        {
            throw DataErrors.Corrupt(path, $"'{path}' is truncated: its header declares {file.Count} samples of {file.SampleBytes} bytes.");
        }

        return file;
    }

    /// <summary>Reads every sample in file order, one buffer each, streaming through gzip when needed.</summary>
    public IEnumerable<byte[]> ReadAll()
    {
        using var stream = OpenStream(Path, out _);
        SkipBytes(stream, DataOffset);
        for (var i = 0L; i < Count; i++)
        {
            var sample = new byte[SampleBytes];
            if (!TryFill(stream, sample))
            {
                throw DataErrors.Corrupt(Path, $"'{Path}' is truncated: it ends at sample {i} of the {Count} its header declares.");
            }

            yield return sample;
        }
    }

    /// <summary>Reads the samples at the given indices with seeks (plain files only).</summary>
    public IEnumerable<byte[]> ReadAt(IEnumerable<int> indices)
    {
        using var stream = DataErrors.Open(Path);
        foreach (var index in indices)
        {
            stream.Position = DataOffset + ((long)index * SampleBytes);
            var sample = new byte[SampleBytes];
            if (!TryFill(stream, sample))
            {
                throw DataErrors.Corrupt(Path, $"'{Path}' is truncated at sample {index}.");
            }

            yield return sample;
        }
    }

    private static Stream OpenStream(string path, out bool gzipped)
    {
        var file = DataErrors.Open(path);
        Span<byte> magic = stackalloc byte[2];
        gzipped = file.Read(magic) == 2 && magic[0] == 0x1F && magic[1] == 0x8B;
        file.Position = 0;
        return gzipped ? new GZipStream(file, CompressionMode.Decompress) : file;
    }

    private static void SkipBytes(Stream stream, long count)
    {
        Span<byte> buffer = stackalloc byte[256];
        while (count > 0)
        {
            var read = stream.Read(buffer[..(int)Math.Min(buffer.Length, count)]);
            if (read == 0)
            {
                return;
            }

            count -= read;
        }
    }

    private static bool TryFill(Stream stream, Span<byte> buffer)
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
}
