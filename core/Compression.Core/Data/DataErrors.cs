using Compression.Core.Diagnostics;

namespace Compression.Core.Data;

/// <summary>The CMP11xx exceptions data sources throw, each naming the file it is about.</summary>
internal static class DataErrors
{
    public static CompressionException Missing(string path, string what = "Data file") =>
        Error(ErrorCodes.DataFileMissing, $"{what} '{path}' does not exist.", path);

    public static CompressionException Corrupt(string path, string message, int? line = null, Exception? inner = null) =>
        new(Diagnostic.Error(ErrorCodes.DataFileCorrupt, message, path, line), inner);

    public static CompressionException Empty(string path, string message) =>
        Error(ErrorCodes.DataSetEmpty, message, path);

    public static CompressionException Shape(string path, string message) =>
        Error(ErrorCodes.DataShapeMismatch, message, path);

    public static CompressionException Names(string path, string message) =>
        Error(ErrorCodes.DataInputNameMismatch, message, path);

    public static CompressionException Unsupported(string path, string message) =>
        Error(ErrorCodes.DataTypeUnsupported, message, path);

    public static CompressionException Option(string? path, string message) =>
        Error(ErrorCodes.DataOptionInvalid, message, path);

    /// <summary>Fails with <see cref="ErrorCodes.DataFileMissing"/> unless the file exists.</summary>
    public static string RequireFile(string path, string what = "Data file")
    {
        if (!File.Exists(path))
        {
            throw Missing(path, what);
        }

        return path;
    }

    /// <summary>Opens a file for sequential or random reads, mapping I/O failures to CMP11xx errors.</summary>
    public static FileStream Open(string path)
    {
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 64 * 1024);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw Missing(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Corrupt(path, $"Cannot read '{path}': {e.Message}", inner: e);
        }
    }

    private static CompressionException Error(string code, string message, string? path) =>
        new(Diagnostic.Error(code, message, path));
}
