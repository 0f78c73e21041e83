using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace CardlessAtm.Terminal.Journal;

/// <summary>One line of the electronic journal. Never holds a PIN, key or full account credential.</summary>
/// <param name="Sequence">1, 2, 3, … in file order.</param>
/// <param name="At">When it was written (UTC).</param>
/// <param name="Event">What happened or is about to happen, e.g. <c>dispense-start</c>.</param>
/// <param name="Session">The withdrawal session (QR nonce), if any.</param>
/// <param name="Stan">The terminal's STAN toward the host, if any.</param>
/// <param name="Data">Details (amounts, codes, mixes, counters).</param>
public sealed record JournalEntry(
    long Sequence,
    DateTimeOffset At,
    string Event,
    string? Session,
    int? Stan,
    IReadOnlyDictionary<string, string>? Data)
{
    /// <summary>A detail by name, or null.</summary>
    public string? this[string key] => Data is not null && Data.TryGetValue(key, out var value) ? value : null;
}

/// <summary>
/// The ATM's electronic journal: an append-only file of JSON lines. Every step is written and flushed
/// <em>before</em> the action it records; the steps before which money moves are forced to the disk
/// (<see cref="JournalEvents.MustReachDiskFirst"/>), so after a power cut the journal says what may have
/// happened and recovery can settle it. A line torn by a crash mid-write is ignored when reading.
/// </summary>
public sealed class ElectronicJournal : IDisposable
{
    private static readonly JsonSerializerOptions Json = new() { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly FileStream _file;
    private readonly TimeProvider _time;
    private long _sequence;

    /// <summary>Opens (or creates) the journal file for appending.</summary>
    public ElectronicJournal(string path, TimeProvider timeProvider)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        Path = System.IO.Path.GetFullPath(path);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!);
        var existing = ReadAll(Path);
        _sequence = existing.Count == 0 ? 0 : existing[^1].Sequence;
        _file = new FileStream(Path, FileMode.Append, FileAccess.Write, FileShare.Read);
        EndTornLine();
        _time = timeProvider;
    }

    /// <summary>The journal file.</summary>
    public string Path { get; }

    /// <summary>Raised after an entry is on the disk (e.g. for a live view of the steps).</summary>
    public event Action<JournalEntry>? Written;

    /// <summary>Writes one entry and flushes it before returning (to the disk for the entries that precede money movements).</summary>
    public async Task<JournalEntry> WriteAsync(string @event, string? session = null, int? stan = null, IReadOnlyDictionary<string, string>? data = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(@event);
        JournalEntry entry;
        await _gate.WaitAsync();
        try
        {
            entry = new JournalEntry(_sequence + 1, _time.GetUtcNow(), @event, session, stan, data);
            var line = JsonSerializer.SerializeToUtf8Bytes(entry, Json);
            await _file.WriteAsync(line);
            await _file.WriteAsync("\n"u8.ToArray());
            _file.Flush(flushToDisk: JournalEvents.MustReachDiskFirst(@event));
            _sequence = entry.Sequence;
        }
        finally
        {
            _gate.Release();
        }

        Written?.Invoke(entry);
        return entry;
    }

    /// <summary>Reads every complete entry of this journal.</summary>
    public IReadOnlyList<JournalEntry> ReadAllEntries() => ReadAll(Path);

    /// <summary>Reads every complete entry of a journal file (a torn last line is skipped).</summary>
    public static IReadOnlyList<JournalEntry> ReadAll(string path)
    {
        if (!File.Exists(path))
        {
            return [];
        }

        var entries = new List<JournalEntry>();
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        while (reader.ReadLine() is { } line)
        {
            if (line.Length == 0)
            {
                continue;
            }

            try
            {
                if (JsonSerializer.Deserialize<JournalEntry>(line, Json) is { } entry)
                {
                    entries.Add(entry);
                }
            }
            catch (JsonException) when (reader.Peek() < 0)
            {
                // The last line was cut short by a crash while it was written: it recorded nothing yet.
            }
        }

        return entries;
    }

    /// <summary>A readable export: one line per entry, e.g. for an auditor or a support ticket.</summary>
    public static string Export(IEnumerable<JournalEntry> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var text = new StringBuilder();
        foreach (var e in entries)
        {
            text.Append(CultureInfo.InvariantCulture, $"{e.Sequence,6} {e.At:yyyy-MM-dd HH:mm:ss.fff} {e.Event,-22}");
            if (e.Session is not null)
            {
                text.Append(CultureInfo.InvariantCulture, $" session={e.Session}");
            }

            if (e.Stan is not null)
            {
                text.Append(CultureInfo.InvariantCulture, $" stan={e.Stan:D6}");
            }

            foreach (var (key, value) in e.Data ?? new Dictionary<string, string>())
            {
                text.Append(CultureInfo.InvariantCulture, $" {key}={value}");
            }

            text.AppendLine();
        }

        return text.ToString();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _file.Dispose();
        _gate.Dispose();
    }

    /// <summary>After a crash mid-write the file may end without a newline; start the next entry on a line of its own.</summary>
    private void EndTornLine()
    {
        if (_file.Length == 0)
        {
            return;
        }

        using var reader = new FileStream(Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        reader.Seek(-1, SeekOrigin.End);
        if (reader.ReadByte() != '\n')
        {
            _file.Write("\n"u8);
            _file.Flush(flushToDisk: true);
        }
    }
}
