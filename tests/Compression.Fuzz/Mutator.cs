using System.Buffers.Binary;

namespace Compression.Fuzz;

/// <summary>
/// afl's havoc stage in miniature: bit flips, interesting values, chunk deletes, copies and splices between seeds,
/// stacked a few at a time, and tokens of the target's dictionary (the afl dictionary of run-fuzz.sh). Deterministic
/// for a given random seed and order of calls.
/// </summary>
public sealed class Mutator(int seed, IReadOnlyList<byte[]> pool, IReadOnlyList<byte[]> tokens)
{
    /// <summary>Values that sit on boundaries: lengths, counts and varints around them are where parsers go wrong.</summary>
    private static readonly long[] Interesting = [0, 1, -1, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, int.MaxValue, int.MinValue, uint.MaxValue, 1L << 40, long.MaxValue];

    private readonly Random random = new(seed);

    public byte[] Mutate(byte[] input)
    {
        var data = new List<byte>(input);
        var stack = 1 << random.Next(1, 5);
        for (var i = 0; i < stack; i++)
        {
            MutateOnce(data);
        }

        return [.. data];
    }

    private void MutateOnce(List<byte> data)
    {
        if (data.Count == 0)
        {
            data.Add((byte)random.Next(256));
            return;
        }

        var at = random.Next(data.Count);
        switch (random.Next(9))
        {
            case 0:
                data[at] ^= (byte)(1 << random.Next(8));
                break;
            case 1:
                data[at] = (byte)random.Next(256);
                break;
            case 2:
                WriteInteresting(data, at);
                break;
            case 3:
                data.RemoveRange(at, Math.Min(data.Count - at, 1 + random.Next(Math.Min(64, data.Count))));
                break;
            case 4:
                var length = Math.Min(data.Count - at, 1 + random.Next(64));
                data.InsertRange(random.Next(data.Count + 1), data.GetRange(at, length));
                break;
            case 5:
                data.RemoveRange(at, data.Count - at);
                break;
            case 6:
                // A varint that claims much more than follows: the classic length-field bug.
                data.InsertRange(at, [0xFF, 0xFF, 0xFF, 0xFF, (byte)random.Next(1, 16)]);
                break;
            case 7 when tokens.Count > 0:
                data.InsertRange(at, tokens[random.Next(tokens.Count)]);
                break;
            default:
                var donor = pool[random.Next(pool.Count)];
                if (donor.Length > 0)
                {
                    var start = random.Next(donor.Length);
                    data.InsertRange(at, donor.AsSpan(start, Math.Min(donor.Length - start, 1 + random.Next(256))).ToArray());
                }

                break;
        }
    }

    private void WriteInteresting(List<byte> data, int at)
    {
        var value = Interesting[random.Next(Interesting.Length)];
        Span<byte> bytes = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, value);
        var width = Math.Min(data.Count - at, 1 << random.Next(4));
        for (var i = 0; i < width; i++)
        {
            data[at + i] = bytes[i];
        }
    }
}
