using System.Globalization;
using System.Text;

namespace Compression.Fuzz;

/// <summary>What a target starts from: its seed inputs and its dictionary's tokens, as found in the repository.</summary>
public sealed record SeedSet(IReadOnlyList<(string Origin, byte[] Bytes)> Inputs, IReadOnlyList<byte[]> Tokens)
{
    /// <summary>afl seeds past this size slow it down more than they add (its deterministic stages walk every byte).</summary>
    public const long MaxAflSeedBytes = 64 * 1024;

    /// <summary>All the target's seeds, large ones included: in process, each costs one load and a few mutants.</summary>
    public static SeedSet For(FuzzTarget target, string repoRoot) =>
        new(Files(target, repoRoot, long.MaxValue).Select(f => (Path.GetRelativePath(repoRoot, f), File.ReadAllBytes(f))).ToList(),
            ReadDictionary(Path.Combine(repoRoot, target.Dictionary)));

    /// <summary>The seed files of the target up to a size, in a stable order.</summary>
    public static IEnumerable<string> Files(FuzzTarget target, string repoRoot, long maxBytes) =>
        target.Seeds
            .Select(s => (Folder: Path.Combine(repoRoot, s.Folder), s.Pattern))
            .Where(s => Directory.Exists(s.Folder))
            .SelectMany(s => Directory.EnumerateFiles(s.Folder, s.Pattern).Order(StringComparer.Ordinal))
            .Where(f => new FileInfo(f).Length <= maxBytes);

    /// <summary>The folder holding Compression.slnx, searched upwards from <paramref name="start"/>; null when there is none.</summary>
    public static string? FindRepoRoot(string start)
    {
        for (var folder = new DirectoryInfo(start); folder is not null; folder = folder.Parent)
        {
            if (File.Exists(Path.Combine(folder.FullName, "Compression.slnx")))
            {
                return folder.FullName;
            }
        }

        return null;
    }

    /// <summary>Reads an afl dictionary: one <c>name="value"</c> per line, with <c>\xNN</c>, <c>\\</c> and <c>\"</c> escapes.</summary>
    public static IReadOnlyList<byte[]> ReadDictionary(string path)
    {
        var tokens = new List<byte[]>();
        foreach (var line in File.Exists(path) ? File.ReadLines(path) : [])
        {
            var open = line.IndexOf('"');
            var close = line.LastIndexOf('"');
            if (line.TrimStart().StartsWith('#') || open < 0 || close <= open)
            {
                continue;
            }

            var token = new List<byte>();
            var text = line[(open + 1)..close];
            for (var i = 0; i < text.Length; i++)
            {
                if (text[i] == '\\' && i + 3 < text.Length && text[i + 1] == 'x')
                {
                    token.Add(byte.Parse(text.AsSpan(i + 2, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                    i += 3;
                }
                else if (text[i] == '\\' && i + 1 < text.Length)
                {
                    token.AddRange(Encoding.UTF8.GetBytes(text[++i].ToString()));
                }
                else
                {
                    token.AddRange(Encoding.UTF8.GetBytes(text[i].ToString()));
                }
            }

            tokens.Add([.. token]);
        }

        return tokens;
    }
}
