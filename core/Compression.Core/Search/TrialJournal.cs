using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Compression.Core.Diagnostics;

namespace Compression.Core.Search;

/// <summary>A journal line read back: a trial's values and what it measured.</summary>
public sealed record JournalEntry(IReadOnlyDictionary<string, string> Values, string? ModelSha256, IReadOnlyDictionary<string, double> Metrics, string? Error, double Seconds);

/// <summary>
/// The search's memory, one JSON object per line: a header naming the search's context (a hash of the model, the
/// steps, the data and the evaluation) and the original's metrics, then one line per finished trial. Re-running the
/// same search reads it and evaluates no trial twice; a line cut short by a killed process is ignored. A journal of
/// another context (the model, steps or data changed) is set aside as <c>.stale</c> and the search starts over.
/// </summary>
public sealed class TrialJournal : IDisposable
{
    private const string Kind = "compression-search";
    private readonly object gate = new();
    private readonly FileStream stream;

    private readonly string context;
    private bool headerWritten;

    private TrialJournal(string path, FileStream stream, string context, IReadOnlyList<JournalEntry> entries, IReadOnlyDictionary<string, double>? baseline)
    {
        Path = path;
        this.stream = stream;
        this.context = context;
        Entries = entries;
        Baseline = baseline;
        headerWritten = baseline is not null;
    }

    public string Path { get; }

    /// <summary>The trials finished by earlier runs of this search.</summary>
    public IReadOnlyList<JournalEntry> Entries { get; }

    /// <summary>The original model's metrics as an earlier run measured them, or null for a new journal.</summary>
    public IReadOnlyDictionary<string, double>? Baseline { get; }

    public static TrialJournal Open(string path, string context, ICompressionLog log)
    {
        var entries = new List<JournalEntry>();
        IReadOnlyDictionary<string, double>? baseline = null;
        var fresh = true;
        if (File.Exists(path))
        {
            var lines = File.ReadAllLines(path);
            var header = lines.Length == 0 ? null : Parse(lines[0]);
            if (header?["journal"]?.GetValue<string>() == Kind && header["context"]?.GetValue<string>() == context)
            {
                fresh = false;
                baseline = Numbers(header["baseline"] as JsonObject);
                foreach (var line in lines.Skip(1))
                {
                    if (Parse(line) is { } node && node["values"] is JsonObject values)
                    {
                        entries.Add(new JournalEntry(
                            values.ToDictionary(v => v.Key, v => v.Value!.GetValue<string>(), StringComparer.Ordinal),
                            node["model_sha256"]?.GetValue<string>(),
                            Numbers(node["metrics"] as JsonObject) ?? new Dictionary<string, double>(),
                            node["error"]?.GetValue<string>(),
                            node["seconds"]?.GetValue<double>() ?? 0));
                    }
                }
            }
            else if (lines.Length > 0)
            {
                var stale = path + ".stale";
                File.Move(path, stale, overwrite: true);
                log.Report(Diagnostic.Warning(ErrorCodes.SearchJournalStale,
                    $"The trial journal belongs to another search (the model, steps, data or evaluation changed); it was moved to {stale} and the search starts over.", path));
            }
        }

        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
        var cutShort = !fresh && !EndsWithNewline(path);
        var journal = new TrialJournal(path, new FileStream(path, fresh ? FileMode.Create : FileMode.Append, FileAccess.Write, FileShare.Read), context, entries, fresh ? null : baseline);
        if (cutShort)
        {
            // A killed run may have left half a line: end it so the next line starts clean.
            journal.Write("\n");
        }

        return journal;
    }

    /// <summary>Writes the header with the original's metrics (a new journal only).</summary>
    public void WriteBaseline(IReadOnlyDictionary<string, double> metrics)
    {
        if (headerWritten)
        {
            return;
        }

        var header = new JsonObject
        {
            ["journal"] = Kind,
            ["version"] = 1,
            ["context"] = context,
            ["baseline"] = ToJson(metrics),
        };
        Write(header.ToJsonString() + "\n");
        headerWritten = true;
    }

    /// <summary>Appends one finished trial and flushes it to disk, so a killed process loses at most the trials in flight.</summary>
    public void Append(Trial trial)
    {
        var line = new JsonObject
        {
            ["trial"] = trial.Number,
            ["values"] = new JsonObject(trial.Values.Select(v => KeyValuePair.Create(v.Key, (JsonNode?)JsonValue.Create(v.Value)))),
            ["model_sha256"] = trial.ModelSha256,
            ["metrics"] = ToJson(trial.Metrics),
            ["error"] = trial.Error,
            ["seconds"] = Math.Round(trial.Seconds, 3),
        };
        Write(line.ToJsonString() + "\n");
    }

    public void Dispose() => stream.Dispose();

    private void Write(string text)
    {
        lock (gate)
        {
            var bytes = Encoding.UTF8.GetBytes(text);
            stream.Write(bytes);
            stream.Flush(flushToDisk: true);
        }
    }

    private static JsonObject ToJson(IReadOnlyDictionary<string, double> metrics) =>
        new(metrics.OrderBy(m => m.Key, StringComparer.Ordinal).Select(m => KeyValuePair.Create(m.Key, (JsonNode?)JsonValue.Create(double.IsFinite(m.Value) ? m.Value : m.Value > 0 ? 1e308 : -1e308))));

    private static Dictionary<string, double>? Numbers(JsonObject? node) =>
        node?.ToDictionary(p => p.Key, p => p.Value!.GetValue<double>(), StringComparer.Ordinal);

    private static JsonNode? Parse(string line)
    {
        if (line.Length == 0)
        {
            return null;
        }

        try
        {
            return JsonNode.Parse(line);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static bool EndsWithNewline(string path)
    {
        using var reader = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        if (reader.Length == 0)
        {
            return true;
        }

        reader.Seek(-1, SeekOrigin.End);
        return reader.ReadByte() == '\n';
    }

    internal static string Hash(string text) =>
        Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(text))).ToLowerInvariant();
}
