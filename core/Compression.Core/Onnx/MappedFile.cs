using System.Buffers;
using System.IO.MemoryMappedFiles;

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

    private MappedFile(string path, long length)
    {
        Length = length;
        file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, mapName: null, capacity: 0, MemoryMappedFileAccess.Read);
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

    public static MappedFile Open(string path) => new(path, new FileInfo(path).Length);

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
