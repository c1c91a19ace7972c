namespace Compression.Core.Data.Sampling;

/// <summary>
/// Which samples a source reads and in what order: optionally shuffle, then skip, then take. The same options
/// always give the same samples in the same order.
/// </summary>
/// <remarks>
/// Seekable formats permute the indices of the whole set (an int per sample, never the samples) and read the
/// selected ones with seeks. Streams that cannot seek (gzip, zip members) are shuffled within a window: samples
/// fill a buffer of <see cref="Window"/> entries and a seeded pick leaves it as each new one arrives, so memory
/// stays at one window and a sample moves at most about a window away from its place in the file.
/// </remarks>
public sealed record SampleSelection(long Skip = 0, long? Take = null, bool Shuffle = false, int Seed = 0, int Window = 1024)
{
    public static SampleSelection From(DataSetSpec spec)
    {
        if (spec.Skip < 0 || spec.Take < 0 || spec.ShuffleWindow <= 0)
        {
            throw DataErrors.Option(spec.Path, "skip and take must be 0 or more, and shuffle_window more than 0.");
        }

        return new SampleSelection(spec.Skip ?? 0, spec.Take, spec.Shuffle ?? false, spec.Seed ?? 0, spec.ShuffleWindow ?? 1024);
    }

    /// <summary>Samples selected from a set of <paramref name="total"/>.</summary>
    public long Count(long total)
    {
        var left = Math.Max(0, total - Skip);
        return Take is { } take ? Math.Min(take, left) : left;
    }

    /// <summary>Fails with CMP1103 when nothing is left of <paramref name="total"/> samples after skip and take.</summary>
    public long RequireSamples(long total, string path)
    {
        var count = Count(total);
        if (count == 0)
        {
            throw DataErrors.Empty(path, total == 0
                ? $"The data set '{path}' holds no samples."
                : $"The data set '{path}' holds {total} samples; skip {Skip} and take {Take?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "all"} leave none.");
        }

        return count;
    }

    /// <summary>The indices to read from a seekable set of <paramref name="total"/> samples, in reading order.</summary>
    public IEnumerable<int> Indices(int total)
    {
        var count = (int)Count(total);
        if (!Shuffle)
        {
            for (var i = 0; i < count; i++)
            {
                yield return (int)Skip + i;
            }

            yield break;
        }

        var order = new int[total];
        for (var i = 0; i < order.Length; i++)
        {
            order[i] = i;
        }

        new Random(Seed).Shuffle(order);
        for (var i = 0; i < count; i++)
        {
            yield return order[Skip + i];
        }
    }

    /// <summary>Applies the selection to a stream read in file order, shuffling within the window.</summary>
    public IEnumerable<T> Apply<T>(IEnumerable<T> samples)
    {
        var ordered = Shuffle ? WindowShuffle(samples) : samples;
        var skipped = 0L;
        var taken = 0L;
        foreach (var sample in ordered)
        {
            if (skipped < Skip)
            {
                skipped++;
                continue;
            }

            if (Take is { } take && taken >= take)
            {
                yield break;
            }

            taken++;
            yield return sample;
        }
    }

    private IEnumerable<T> WindowShuffle<T>(IEnumerable<T> samples)
    {
        var random = new Random(Seed);
        var window = new List<T>(Math.Min(Window, 4096));
        foreach (var sample in samples)
        {
            if (window.Count < Window)
            {
                window.Add(sample);
                continue;
            }

            var pick = random.Next(window.Count);
            yield return window[pick];
            window[pick] = sample;
        }

        random.Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(window));
        foreach (var sample in window)
        {
            yield return sample;
        }
    }
}
