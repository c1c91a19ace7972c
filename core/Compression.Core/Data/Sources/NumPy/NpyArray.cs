using System.IO.Compression;

namespace Compression.Core.Data.Sources.NumPy;

/// <summary>
/// One array to read sample by sample: a <c>.npy</c> file (read with seeks) or a member of an <c>.npz</c>
/// archive (streamed, stored or deflated). Each read opens its own stream, so arrays of one set read side by side.
/// </summary>
internal sealed class NpyArray
{
    private NpyArray(string file, string? member, string name, NpyHeader header)
    {
        File = file;
        Member = member;
        Name = name;
        Header = header;
    }

    /// <summary>The .npy or .npz file.</summary>
    public string File { get; }

    /// <summary>The member's entry name inside an .npz, or null for an .npy file.</summary>
    public string? Member { get; }

    /// <summary>The array's name: the member name without <c>.npy</c>, or the file name.</summary>
    public string Name { get; }

    public NpyHeader Header { get; }

    public bool CanSeek => Member is null;

    /// <summary>Where diagnostics point: the file, with the member after a colon for an .npz.</summary>
    public string DisplayPath => Member is null ? File : $"{File}:{Member}";

    public static NpyArray OpenFile(string path)
    {
        using var stream = DataErrors.Open(path);
        return new NpyArray(path, null, System.IO.Path.GetFileNameWithoutExtension(path), NpyHeader.Read(stream, path));
    }

    /// <summary>The arrays of an .npz, in the archive's order; only their headers are read.</summary>
    public static List<NpyArray> OpenArchive(string path)
    {
        try
        {
            using var archive = ZipFile.OpenRead(path);
            var arrays = new List<NpyArray>();
            foreach (var entry in archive.Entries)
            {
                if (!entry.FullName.EndsWith(".npy", StringComparison.Ordinal))
                {
                    continue;
                }

                using var stream = entry.Open();
                arrays.Add(new NpyArray(path, entry.FullName, entry.FullName[..^4], NpyHeader.Read(stream, $"{path}:{entry.FullName}")));
            }

            return arrays;
        }
        catch (InvalidDataException e)
        {
            throw DataErrors.Corrupt(path, $"'{path}' is not a readable .npz (zip) archive: {e.Message}", inner: e);
        }
    }

    /// <summary>Reads every sample in order, one buffer each.</summary>
    public IEnumerable<byte[]> ReadAll()
    {
        using var archive = Member is null ? null : ZipFile.OpenRead(File);
        using var stream = archive is null ? DataErrors.Open(File) : archive.GetEntry(Member!)!.Open();
        NpyHeader.Read(stream, DisplayPath);
        for (var i = 0L; i < Header.Count; i++)
        {
            yield return ReadSample(stream, i);
        }
    }

    /// <summary>Reads the samples at <paramref name="indices"/> with seeks (.npy files only).</summary>
    public IEnumerable<byte[]> ReadAt(IEnumerable<int> indices)
    {
        using var stream = DataErrors.Open(File);
        foreach (var index in indices)
        {
            stream.Position = Header.DataOffset + ((long)index * Header.SampleBytes);
            yield return ReadSample(stream, index);
        }
    }

    /// <summary>Fails with CMP1102 when a plain .npy file is shorter than its header says.</summary>
    public void RequireComplete()
    {
        if (Member is null && new FileInfo(File).Length < Header.DataOffset + Header.DataBytes)
        {
            throw DataErrors.Corrupt(File, $"'{File}' is truncated: its header declares {Header.Count} samples of {Header.SampleBytes} bytes.");
        }
    }

    private byte[] ReadSample(Stream stream, long index)
    {
        var sample = new byte[Header.SampleBytes];
        if (!NpyHeader.TryFill(stream, sample))
        {
            throw DataErrors.Corrupt(DisplayPath, $"'{DisplayPath}' is truncated at sample {index} of the {Header.Count} its header declares.");
        }

        return sample;
    }
}
