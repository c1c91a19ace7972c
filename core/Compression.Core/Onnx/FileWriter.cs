using System.Runtime.InteropServices;
using Google.Protobuf;

namespace Compression.Core.Onnx;

/// <summary>
/// Writes tensor bytes to an output file. Bytes that are an unchanged slice of a memory-mapped input are
/// copied by the kernel (<c>copy_file_range</c> on Linux) without passing through this process's memory;
/// everything else is written from memory.
/// </summary>
internal static partial class FileWriter
{
    private static bool kernelCopyUnavailable = !OperatingSystem.IsLinux();

    public static void Write(FileStream output, ByteString bytes)
    {
        if (!kernelCopyUnavailable && bytes.Length > 0 && MappedFile.TryGetSource(bytes.Memory, out var source, out var offset)
            && TryKernelCopy(output, source, offset, bytes.Length))
        {
            return;
        }

        output.Write(bytes.Span);
    }

    private static bool TryKernelCopy(FileStream output, MappedFile source, long sourceOffset, int length)
    {
        output.Flush();
        var start = output.Position;
        long inOffset = sourceOffset;
        long outOffset = start;
        long remaining = length;
        try
        {
            while (remaining > 0)
            {
                var copied = CopyFileRange(source.Handle.DangerousGetHandle(), ref inOffset, output.SafeFileHandle.DangerousGetHandle(), ref outOffset, (nuint)remaining, 0);
                if (copied <= 0)
                {
                    break;
                }

                remaining -= copied;
            }
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            kernelCopyUnavailable = true;
        }

        if (remaining == length)
        {
            return false; // nothing copied (another file system, an old kernel): write from memory instead
        }

        output.Position = start + (length - remaining);
        if (remaining > 0)
        {
            output.Write(source.Span(sourceOffset + (length - remaining), (int)remaining));
        }

        return true;
    }

    [LibraryImport("libc", EntryPoint = "copy_file_range", SetLastError = true)]
    private static partial nint CopyFileRange(nint fileIn, ref long offsetIn, nint fileOut, ref long offsetOut, nuint length, uint flags);
}
