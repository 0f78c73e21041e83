using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

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
/// happened and recovery can settle it. A line torn by a crash mid-write, or corrupted, is skipped when reading —
/// wherever it is — and reported with its file and line number; it is never deleted or rewritten.
/// </summary>
public sealed class ElectronicJournal : IDisposable
{
    private static readonly JsonSerializerOptions Json = new() { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly FileStream _file;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly HashSet<(string Path, int Line)> _reported = [];
    private readonly Dictionary<string, Tally> _tallies = new(StringComparer.Ordinal);
    private long _sequence;
    private bool _disposed;

    /// <summary>Opens (or creates) the journal file for appending.</summary>
    /// <param name="path">The journal file.</param>
    /// <param name="timeProvider">The clock for the entries' times.</param>
    /// <param name="logger">Where skipped (torn or corrupt) lines are reported; none when null.</param>
    public ElectronicJournal(string path, TimeProvider timeProvider, ILogger? logger = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        Path = System.IO.Path.GetFullPath(path);
        _logger = logger ?? NullLogger.Instance;
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!);
        var existing = ReadAll(Path);
        _sequence = existing.Count == 0 ? 0 : existing.Max(e => e.Sequence);
        _file = new FileStream(Path, FileMode.Append, FileAccess.Write, FileShare.Read);
        EndTornLine();
        _time = timeProvider;
    }

    /// <summary>The journal file.</summary>
    public string Path { get; }

    /// <summary>Raised once for each torn or corrupt line a read of this journal skips (e.g. for a metric).</summary>
    public event Action<SkippedJournalLine>? LineSkipped;

    /// <summary>Raised after an entry is on the disk (e.g. for a live view of the steps).</summary>
    public event Action<JournalEntry>? Written;

    /// <summary>How long a summary (<see cref="CountAsync"/>) collects before it is written; one summary per interval at most.</summary>
    public TimeSpan SummaryInterval { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>Writes one entry and flushes it before returning (to the disk for the entries that precede money movements).</summary>
    public async Task<JournalEntry> WriteAsync(string @event, string? session = null, int? stan = null, IReadOnlyDictionary<string, string>? data = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(@event);
        var written = new List<JournalEntry>(1);
        JournalEntry entry;
        await _gate.WaitAsync();
        try
        {
            WriteDueSummaries(written, force: false);
            entry = Append(@event, session, stan, data);
            written.Add(entry);
        }
        finally
        {
            _gate.Release();
        }

        Raise(written);
        return entry;
    }

    /// <summary>
    /// Counts one occurrence of <paramref name="key"/> toward a summary entry <paramref name="summaryEvent"/>
    /// instead of writing an entry of its own: for events anyone may cause at any rate (e.g. requests that match
    /// no session). The summary — counts per key, the total, and the first and last time — is written at most
    /// once per <see cref="SummaryInterval"/>: by the first count, or the first other write, after the interval;
    /// or when the journal is closed.
    /// </summary>
    public async Task CountAsync(string summaryEvent, string key)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(summaryEvent);
        ArgumentException.ThrowIfNullOrWhiteSpace(key);
        var written = new List<JournalEntry>(0);
        await _gate.WaitAsync();
        try
        {
            WriteDueSummaries(written, force: false);
            var now = _time.GetUtcNow();
            if (!_tallies.TryGetValue(summaryEvent, out var tally))
            {
                tally = new Tally(now);
                _tallies.Add(summaryEvent, tally);
            }

            tally.Last = now;
            tally.Total++;
            tally.Counts[key] = tally.Counts.GetValueOrDefault(key) + 1;
        }
        finally
        {
            _gate.Release();
        }

        Raise(written);
    }

    /// <summary>Writes every summary still collecting, whether its interval is over or not (e.g. before stopping).</summary>
    public async Task FlushSummariesAsync()
    {
        var written = new List<JournalEntry>(0);
        await _gate.WaitAsync();
        try
        {
            WriteDueSummaries(written, force: true);
        }
        finally
        {
            _gate.Release();
        }

        Raise(written);
    }

    /// <summary>
    /// Reads every entry of this journal. Lines that are not entries are skipped and reported (logged and
    /// raised through <see cref="LineSkipped"/>) the first time this journal meets them.
    /// </summary>
    public JournalReadResult ReadAllEntries() => Report(ReadAll(Path));

    /// <summary>
    /// Reads every entry of a journal file. A line that is not an entry — torn by a crash mid-write, or
    /// corrupted — is skipped wherever it is, and listed in <see cref="JournalReadResult.Skipped"/> with its line number.
    /// </summary>
    public static JournalReadResult ReadAll(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (!File.Exists(path))
        {
            return JournalReadResult.Empty;
        }

        var entries = new List<JournalEntry>();
        var skipped = new List<SkippedJournalLine>();
        ReadFile(System.IO.Path.GetFullPath(path), entries, skipped);
        return new JournalReadResult(entries, skipped, [System.IO.Path.GetFullPath(path)]);
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
        if (_disposed)
        {
            return;
        }

        _gate.Wait();
        try
        {
            WriteDueSummaries([], force: true); // stopping: nothing counted is lost
            _file.Flush(flushToDisk: true);
            _disposed = true;
            _file.Dispose();
        }
        finally
        {
            _gate.Release();
        }

        _gate.Dispose();
    }

    /// <summary>Writes one entry at the end of the journal. The gate must be held.</summary>
    private JournalEntry Append(string @event, string? session, int? stan, IReadOnlyDictionary<string, string>? data)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var entry = new JournalEntry(_sequence + 1, _time.GetUtcNow(), @event, session, stan, data);
        var line = JsonSerializer.SerializeToUtf8Bytes(entry, Json);
        _file.Write(line);
        _file.Write("\n"u8);
        _file.Flush(flushToDisk: JournalEvents.MustReachDiskFirst(@event));
        _sequence = entry.Sequence;
        return entry;
    }

    /// <summary>Writes the summaries whose interval is over (all when <paramref name="force"/>). The gate must be held.</summary>
    private void WriteDueSummaries(List<JournalEntry> written, bool force)
    {
        if (_tallies.Count == 0)
        {
            return;
        }

        var now = _time.GetUtcNow();
        foreach (var (summaryEvent, tally) in _tallies.Where(t => force || now - t.Value.First >= SummaryInterval).ToList())
        {
            var data = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["from"] = tally.First.ToString("O", CultureInfo.InvariantCulture),
                ["to"] = tally.Last.ToString("O", CultureInfo.InvariantCulture),
                ["total"] = tally.Total.ToString(CultureInfo.InvariantCulture),
            };
            foreach (var (key, count) in tally.Counts.OrderBy(c => c.Key, StringComparer.Ordinal))
            {
                data[key] = count.ToString(CultureInfo.InvariantCulture);
            }

            written.Add(Append(summaryEvent, null, null, data));
            _tallies.Remove(summaryEvent);
        }
    }

    private void Raise(List<JournalEntry> written)
    {
        foreach (var entry in written)
        {
            Written?.Invoke(entry);
        }
    }

    /// <summary>Reads one file line by line (split on <c>\n</c> only, so line numbers match <c>sed -n Np</c>).</summary>
    private static void ReadFile(string path, List<JournalEntry> entries, List<SkippedJournalLine> skipped, Func<JournalEntry, bool>? keep = null)
    {
        foreach (var (number, line, terminated) in Lines(path))
        {
            if (line.Length == 0)
            {
                continue;
            }

            if (Parse(line, out var entry, out var reason))
            {
                if (keep is null || keep(entry))
                {
                    entries.Add(entry);
                }
            }
            else
            {
                skipped.Add(terminated
                    ? new SkippedJournalLine(path, number, reason, Torn: false)
                    : new SkippedJournalLine(path, number, $"torn: the file ends mid-line, a crash cut this entry short while it was written ({reason})", Torn: true));
            }
        }
    }

    private static bool Parse(byte[] line, [NotNullWhen(true)] out JournalEntry? entry, out string reason)
    {
        try
        {
            entry = JsonSerializer.Deserialize<JournalEntry>(line, Json);
        }
        catch (JsonException e)
        {
            // The reason never quotes the line: it is read by people who must not see more than the journal shows.
            entry = null;
            reason = $"not valid JSON at byte {e.BytePositionInLine ?? 0} of {line.Length}";
            return false;
        }

        if (entry is null || string.IsNullOrEmpty(entry.Event) || entry.Sequence <= 0)
        {
            entry = null;
            reason = "JSON but not a journal entry (no sequence or event)";
            return false;
        }

        reason = string.Empty;
        return true;
    }

    private static IEnumerable<(int Number, byte[] Line, bool Terminated)> Lines(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 1 << 16);
        var buffer = new byte[1 << 16];
        var pending = new MemoryStream();
        var number = 0;
        int read;
        while ((read = stream.Read(buffer, 0, buffer.Length)) > 0)
        {
            var start = 0;
            while (start < read)
            {
                var end = Array.IndexOf(buffer, (byte)'\n', start, read - start);
                if (end < 0)
                {
                    pending.Write(buffer, start, read - start);
                    break;
                }

                pending.Write(buffer, start, end - start);
                number++;
                yield return (number, pending.ToArray(), true);
                pending.SetLength(0);
                start = end + 1;
            }
        }

        if (pending.Length > 0)
        {
            yield return (number + 1, pending.ToArray(), false);
        }
    }

    /// <summary>Logs and raises the skipped lines this journal has not reported yet.</summary>
    private JournalReadResult Report(JournalReadResult result)
    {
        foreach (var line in result.Skipped)
        {
            lock (_reported)
            {
                if (!_reported.Add((line.Path, line.LineNumber)))
                {
                    continue;
                }
            }

            _logger.LogError("Journal line {Path}:{LineNumber} skipped: {Reason}. It is left in the file for audit; run 'cardless-atm terminal journal --check' to list every such line", line.Path, line.LineNumber, line.Reason);
            LineSkipped?.Invoke(line);
        }

        return result;
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

    private sealed class Tally(DateTimeOffset first)
    {
        public DateTimeOffset First { get; } = first;

        public DateTimeOffset Last { get; set; } = first;

        public long Total { get; set; }

        public Dictionary<string, long> Counts { get; } = new(StringComparer.Ordinal);
    }
}
