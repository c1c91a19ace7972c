using System.Buffers;
using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Compression.Core.Onnx;

/// <summary>
/// A read-only memory mapping of a model or external data file. Tensor bytes are handed out as slices of the
/// mapping instead of copies: loading touches only the page cache, and a 2 GB model costs no 2 GB of heap.
/// The mapping lives as long as any slice does (each slice holds it) and is unmapped by the finalizer after.
/// Saving never writes into a mapped file: outputs go to a temp file that is renamed over the target.
/// </summary>
internal sealed unsafe class MappedFile
{
    private readonly MemoryMappedFile file;
    private readonly MemoryMappedViewAccessor view;
    private readonly byte* pointer;

    private MappedFile(string path)
    {
        Handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        Length = RandomAccess.GetLength(Handle);
        file = MemoryMappedFile.CreateFromFile(Handle, mapName: null, capacity: 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: true);
        view = file.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        byte* acquired = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref acquired);
        pointer = acquired + view.PointerOffset;
    }

    ~MappedFile()
    {
        // Runs before the view's own critical finalizer, which unmaps once the pointer is released.
        view.SafeMemoryMappedViewHandle.ReleasePointer();
        view.Dispose();
        file.Dispose();
    }

    public long Length { get; }

    /// <summary>The open file, so a writer can copy unchanged ranges kernel-side instead of through memory.</summary>
    public SafeFileHandle Handle { get; }

    public static MappedFile Open(string path) => new(path);

    /// <summary>Whether the memory is a slice of a mapped file, and where in it.</summary>
    public static bool TryGetSource(ReadOnlyMemory<byte> memory, out MappedFile source, out long offset)
    {
        if (MemoryMarshal.TryGetMemoryManager<byte, MappedSlice>(memory, out var slice, out var start, out _))
        {
            source = slice.Owner;
            offset = slice.Offset + start;
            return true;
        }

        source = null!;
        offset = 0;
        return false;
    }

    /// <summary>The whole file as a span; only while this object is reachable.</summary>
    public ReadOnlySpan<byte> Span(long offset, int length)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(offset + length, Length);
        return new ReadOnlySpan<byte>(pointer + offset, length);
    }

    /// <summary>A slice as memory that keeps the mapping alive for as long as it is referenced.</summary>
    public ReadOnlyMemory<byte> Slice(long offset, int length)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(offset + length, Length);
        return new MappedSlice(this, offset, length).Memory;
    }

    private sealed class MappedSlice(MappedFile owner, long offset, int length) : MemoryManager<byte>
    {
        public MappedFile Owner => owner;

        public long Offset => offset;

        public override Span<byte> GetSpan() => new(owner.pointer + offset, length);

        public override MemoryHandle Pin(int elementIndex = 0) => new(owner.pointer + offset + elementIndex, default, this);

        public override void Unpin()
        {
        }

        protected override void Dispose(bool disposing)
        {
        }
    }
}
