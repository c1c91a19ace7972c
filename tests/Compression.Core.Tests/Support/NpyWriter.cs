using System.IO.Compression;
using System.Runtime.InteropServices;
using System.Text;

namespace Compression.Core.Tests.Support;

/// <summary>Writes .npy and .npz files byte by byte as the NumPy format spec describes, for the data-source tests.</summary>
public static class NpyWriter
{
    public static byte[] Npy<T>(T[] values, long[] shape, string descr, int major = 1, bool fortranOrder = false)
        where T : unmanaged
    {
        var dims = shape.Length == 1 ? $"{shape[0]}," : string.Join(", ", shape);
        var dict = $"{{'descr': '{descr}', 'fortran_order': {(fortranOrder ? "True" : "False")}, 'shape': ({dims}), }}";
        var lengthBytes = major == 1 ? 2 : 4;
        var unpadded = 8 + lengthBytes + dict.Length + 1;
        var header = dict + new string(' ', ((unpadded + 63) / 64 * 64) - unpadded) + "\n";
        using var stream = new MemoryStream();
        stream.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', (byte)major, 0]);
        if (major == 1)
        {
            stream.Write(BitConverter.GetBytes((ushort)header.Length));
        }
        else
        {
            stream.Write(BitConverter.GetBytes((uint)header.Length));
        }

        stream.Write(Encoding.Latin1.GetBytes(header));
        stream.Write(MemoryMarshal.AsBytes(values.AsSpan()));
        return stream.ToArray();
    }

    public static void Npz(string path, CompressionLevel level, params (string Name, byte[] Npy)[] members)
    {
        using var archive = ZipFile.Open(path, ZipArchiveMode.Create);
        foreach (var (name, npy) in members)
        {
            using var entry = archive.CreateEntry(name + ".npy", level).Open();
            entry.Write(npy);
        }
    }
}
