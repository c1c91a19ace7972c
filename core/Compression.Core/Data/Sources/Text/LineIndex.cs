using System.Text;

namespace Compression.Core.Data.Sources.Text;

/// <summary>
/// Where each non-blank line of a text file starts: one pass over the bytes keeps only offsets, so any line can
/// then be read with a seek (shuffling reads lines out of order without holding the file).
/// </summary>
internal sealed class LineIndex
{
    private readonly List<long> starts = [];
    private readonly List<int> lineNumbers = [];
    private readonly List<int> lengths = [];

    private LineIndex(string path) => Path = path;

    public string Path { get; }

    public int Count => starts.Count;

    /// <summary>Indexes the file, leaving out blank lines and, when <paramref name="skipHeader"/>, the first line.</summary>
    public static LineIndex Build(string path, bool skipHeader)
    {
        var index = new LineIndex(path);
        using var stream = DataErrors.Open(path);
        var buffer = new byte[64 * 1024];
        long position = 0;
        long lineStart = 0;
        var lineNumber = 1;
        var read = stream.Read(buffer);
        if (read >= 3 && buffer[0] == 0xEF && buffer[1] == 0xBB && buffer[2] == 0xBF)
        {
            lineStart = 3; // UTF-8 byte order mark
        }

        byte previous = 0;
        while (read > 0)
        {
            for (var i = 0; i < read; i++)
            {
                if (buffer[i] == '\n')
                {
                    var length = position + i - lineStart;
                    index.Add(lineStart, length, lineNumber, skipHeader, isBlank: length == 0 || (length == 1 && previous == '\r'));
                    lineStart = position + i + 1;
                    lineNumber++;
                }

                previous = buffer[i];
            }

            position += read;
            read = stream.Read(buffer);
        }

        var last = position - lineStart;
        index.Add(lineStart, last, lineNumber, skipHeader, isBlank: last <= 0 || (last == 1 && previous == '\r'));
        return index;
    }

    /// <summary>Reads line <paramref name="index"/> (0-based among the indexed lines) and its 1-based number in the file.</summary>
    public (string Text, int LineNumber) Read(FileStream stream, int index)
    {
        var bytes = new byte[lengths[index]];
        stream.Position = starts[index];
        stream.ReadExactly(bytes);
        var text = Encoding.UTF8.GetString(bytes);
        return (text.EndsWith('\r') ? text[..^1] : text, lineNumbers[index]);
    }

    private void Add(long start, long length, int lineNumber, bool skipHeader, bool isBlank)
    {
        if ((skipHeader && lineNumber == 1) || isBlank)
        {
            return;
        }

        starts.Add(start);
        lengths.Add(checked((int)length));
        lineNumbers.Add(lineNumber);
    }
}
