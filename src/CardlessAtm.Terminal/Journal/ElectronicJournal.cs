using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CardlessAtm.Terminal.Journal;

/// <summary>
/// The ATM's electronic journal: an append-only file of JSON lines. Every step is written and flushed
/// <em>before</em> the action it records; the steps before which money moves are forced to the disk
/// (<see cref="JournalEvents.MustReachDiskFirst"/>), so after a power cut the journal says what may have
/// happened and recovery can settle it. A line torn by a crash mid-write, or corrupted, is skipped when reading —
/// wherever it is — and reported with its file and line number; it is never deleted or rewritten.
/// </summary>
public sealed class ElectronicJournal : IDisposable
{
    private static readonly JsonSerializerOptions Json = new()
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        AllowOutOfOrderMetadataProperties = true, // a hand-edited or reordered line still names its event
    };
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly JournalOptions _options;
    private readonly HashSet<(string Path, int Line)> _reported = [];
    private Tally? _unmatched;

    // Withdrawals asked of the host and not finished (session → sequence of its authorise-request): what
    // recovery needs, what each new segment records, and what retention must keep.
    private readonly Dictionary<string, long> _open = new(StringComparer.Ordinal);
    private readonly List<SkippedJournalLine> _loadSkipped = [];
    private FileStream _file;
    private DateOnly? _segmentDay;
    private long _headerLength;
    private long _sequence;
    private bool _disposed;

    /// <summary>Opens (or creates) the journal for appending.</summary>
    /// <param name="path">The current segment, e.g. <c>data/journal.log</c>; closed ones sit beside it as <c>journal-YYYYMMDD-NNN.log</c>.</param>
    /// <param name="timeProvider">The clock for the entries' times, rotation and retention.</param>
    /// <param name="logger">Where skipped (torn or corrupt) lines are reported; none when null.</param>
    /// <param name="options">Rotation and retention; the defaults when null.</param>
    public ElectronicJournal(string path, TimeProvider timeProvider, ILogger? logger = null, JournalOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentNullException.ThrowIfNull(timeProvider);
        Path = System.IO.Path.GetFullPath(path);
        _time = timeProvider;
        _logger = logger ?? NullLogger.Instance;
        _options = options ?? new JournalOptions();
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!);
        LoadState();
        _file = new FileStream(Path, FileMode.Append, FileAccess.Write, FileShare.Read | FileShare.Delete);
        EndTornLine();
        ApplyRetention();
    }

    /// <summary>The journal file.</summary>
    public string Path { get; }

    /// <summary>Raised once for each torn or corrupt line a read of this journal skips (e.g. for a metric).</summary>
    public event Action<SkippedJournalLine>? LineSkipped;

    /// <summary>Raised after an entry is on the disk (e.g. for a live view of the steps).</summary>
    public event Action<JournalEntry>? Written;

    /// <summary>How long a summary (<see cref="CountAsync"/>) collects before it is written; one summary per interval at most.</summary>
    public TimeSpan SummaryInterval { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Writes one entry — numbered and timed by the journal, whatever <paramref name="entry"/> held — and flushes it
    /// before returning (to the disk for the entries that precede money movements). Returns the entry as written.
    /// </summary>
    public async Task<T> WriteAsync<T>(T entry)
        where T : JournalEntry
    {
        ArgumentNullException.ThrowIfNull(entry);
        var written = new List<JournalEntry>(1);
        JournalEntry stamped;
        await _gate.WaitAsync();
        try
        {
            WriteDueSummaries(written, force: false);
            stamped = Append(written, entry);
        }
        finally
        {
            _gate.Release();
        }

        Raise(written);
        return (T)stamped;
    }

    /// <summary>
    /// Counts one forwarded request that matched no session under <paramref name="key"/> (its response code and
    /// reason) toward a <see cref="RequestsUnmatched"/> summary instead of an entry of its own: anyone may send
    /// those at any rate. The summary — counts per key, the total, and the first and last time — is written at most
    /// once per <see cref="SummaryInterval"/>: by the first count, or the first other write, after the interval;
    /// or when the journal is closed.
    /// </summary>
    public async Task CountAsync(string key)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(key);
        var written = new List<JournalEntry>(0);
        await _gate.WaitAsync();
        try
        {
            WriteDueSummaries(written, force: false);
            var now = _time.GetUtcNow();
            _unmatched ??= new Tally(now);
            _unmatched.Last = now;
            _unmatched.Total++;
            _unmatched.Counts[key] = _unmatched.Counts.GetValueOrDefault(key) + 1;
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
    /// Reads every entry of this journal, across its segments in order. Lines that are not entries are skipped
    /// and reported (logged and raised through <see cref="LineSkipped"/>) the first time this journal meets them.
    /// </summary>
    public JournalReadResult ReadAllEntries() => Report(ReadAll(Path));

    /// <summary>
    /// What recovery needs: the entries of the withdrawals asked of the host and not finished, read from the
    /// newest segment back only to the one where the oldest of them began (the current segment alone when
    /// none is open). Skipped lines of the segments read are reported as by <see cref="ReadAllEntries"/>.
    /// </summary>
    public JournalReadResult ReadUnfinished()
    {
        Dictionary<string, long> open;
        _gate.Wait();
        try
        {
            open = new Dictionary<string, long>(_open, StringComparer.Ordinal);
        }
        finally
        {
            _gate.Release();
        }

        var oldest = open.Count == 0 ? long.MaxValue : open.Values.Min();
        var files = Segments(Path);
        var perFile = new List<(string File, List<JournalEntry> Entries, List<SkippedJournalLine> Skipped)>();
        for (var i = files.Count - 1; i >= 0; i--)
        {
            var entries = new List<JournalEntry>();
            var skipped = new List<SkippedJournalLine>();
            ReadFile(files[i], entries, skipped, e => e.Session is not null && open.ContainsKey(e.Session));
            perFile.Add((files[i], entries, skipped));
            if (FirstSequence(files[i]) is { } first && first <= oldest)
            {
                break;
            }
        }

        perFile.Reverse();

        // What the opening read is reported too, so that a start-up reports every bad line it met.
        List<SkippedJournalLine> loaded;
        lock (_reported)
        {
            loaded = [.. _loadSkipped];
        }

        var skippedLines = loaded.Concat(perFile.SelectMany(f => f.Skipped)).DistinctBy(l => (l.Path, l.LineNumber)).ToList();
        return Report(new JournalReadResult(perFile.SelectMany(f => f.Entries).ToList(), skippedLines, perFile.Select(f => f.File).ToList()));
    }

    /// <summary>
    /// Reads every entry of a journal — the closed segments beside <paramref name="path"/>, oldest first, then
    /// <paramref name="path"/> itself. A line that is not an entry — torn by a crash mid-write, or corrupted —
    /// is skipped wherever it is, and listed in <see cref="JournalReadResult.Skipped"/> with its line number.
    /// </summary>
    public static JournalReadResult ReadAll(string path)
    {
        var files = Segments(path);
        var entries = new List<JournalEntry>();
        var skipped = new List<SkippedJournalLine>();
        foreach (var file in files)
        {
            ReadFile(file, entries, skipped);
        }

        return new JournalReadResult(entries, skipped, files);
    }

    /// <summary>Reads one segment file only (bad lines skipped and listed, as by <see cref="ReadAll"/>).</summary>
    public static JournalReadResult ReadSegment(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var full = System.IO.Path.GetFullPath(path);
        if (!File.Exists(full))
        {
            return JournalReadResult.Empty;
        }

        var entries = new List<JournalEntry>();
        var skipped = new List<SkippedJournalLine>();
        ReadFile(full, entries, skipped);
        return new JournalReadResult(entries, skipped, [full]);
    }

    /// <summary>The journal's files that exist: the closed segments beside <paramref name="path"/> in order, then <paramref name="path"/>.</summary>
    public static IReadOnlyList<string> Segments(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var full = System.IO.Path.GetFullPath(path);
        var files = ClosedSegments(full).Select(c => c.Path).ToList();
        if (File.Exists(full))
        {
            files.Add(full);
        }

        return files;
    }

    private static List<(string Path, DateOnly Day, int Number)> ClosedSegments(string path)
    {
        var directory = System.IO.Path.GetDirectoryName(path)!;
        if (!Directory.Exists(directory))
        {
            return [];
        }

        var stem = Stem(path);
        var segments = new List<(string Path, DateOnly Day, int Number)>();
        foreach (var file in Directory.EnumerateFiles(directory, $"{stem}-*.log"))
        {
            // stem-YYYYMMDD-NNN.log
            var name = System.IO.Path.GetFileNameWithoutExtension(file).AsSpan(stem.Length);
            if (name.Length >= 13 && name[0] == '-' && name[9] == '-'
                && DateOnly.TryParseExact(name.Slice(1, 8), "yyyyMMdd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var day)
                && int.TryParse(name[10..], NumberStyles.None, CultureInfo.InvariantCulture, out var number))
            {
                segments.Add((file, day, number));
            }
        }

        segments.Sort((a, b) => a.Day != b.Day ? a.Day.CompareTo(b.Day) : a.Number.CompareTo(b.Number));
        return segments;
    }

    private static string Stem(string path) => System.IO.Path.GetFileNameWithoutExtension(path);

    /// <summary>A readable export: one line per entry, e.g. for an auditor or a support ticket.</summary>
    public static string Export(IEnumerable<JournalEntry> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var text = new StringBuilder();
        foreach (var e in entries)
        {
            ArgumentNullException.ThrowIfNull(e);
            text.Append(CultureInfo.InvariantCulture, $"{e.Sequence,6} {e.At:yyyy-MM-dd HH:mm:ss.fff} {e.Event,-22}");
            if (e.Session is not null)
            {
                text.Append(CultureInfo.InvariantCulture, $" session={e.Session}");
            }

            if (e.Stan is not null)
            {
                text.Append(CultureInfo.InvariantCulture, $" stan={e.Stan:D6}");
            }

            foreach (var (key, value) in Details(e))
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

    /// <summary>Writes one entry at the end of the journal, closing the segment first when it is full or of another UTC day. The gate must be held.</summary>
    private JournalEntry Append(List<JournalEntry> written, JournalEntry unstamped)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var now = _time.GetUtcNow();
        var entry = unstamped with { Sequence = _sequence + 1, At = now };
        var line = Serialize(entry);
        var day = DateOnly.FromDateTime(now.UtcDateTime);
        var full = _file.Length > _headerLength && _file.Length + line.Length + 1 > _options.MaxSegmentBytes;
        if (_segmentDay is { } segmentDay && (segmentDay != day || full))
        {
            written.Add(Rotate(segmentDay, day, now));
            entry = entry with { Sequence = _sequence + 1 };
            line = Serialize(entry);
        }

        WriteLine(line, JournalEvents.MustReachDiskFirst(entry.Event));
        _sequence = entry.Sequence;
        _segmentDay ??= day;
        Track(_open, entry);
        written.Add(entry);
        return entry;
    }

    /// <summary>One line: the entry as its own type, with its <c>event</c> name.</summary>
    internal static byte[] Serialize(JournalEntry entry) => JsonSerializer.SerializeToUtf8Bytes(entry, Json);

    /// <summary>An entry's details (everything but its sequence, time, event, session and STAN) as name=value, for people.</summary>
    private static IEnumerable<(string Name, string Value)> Details(JournalEntry entry)
    {
        if (entry is UntypedEntry untyped)
        {
            foreach (var (key, value) in untyped.Data)
            {
                yield return (key, value);
            }

            yield break;
        }

        using var document = JsonDocument.Parse(Serialize(entry));
        foreach (var property in document.RootElement.EnumerateObject())
        {
            if (property.Name is "event" or "sequence" or "at" or "session" or "stan")
            {
                continue;
            }

            // Amounts, mixes and counts as compact JSON: the one representation, and no space inside a value.
            yield return (property.Name, property.Value.ValueKind == JsonValueKind.String ? property.Value.GetString()! : property.Value.GetRawText());
        }
    }

    private void WriteLine(byte[] line, bool flushToDisk)
    {
        _file.Write(line);
        _file.Write("\n"u8);
        _file.Flush(flushToDisk);
    }

    /// <summary>
    /// Closes the current segment as <c>journal-YYYYMMDD-NNN.log</c> and starts a new one whose first entry
    /// records the withdrawals still open, so that recovery can stop reading where the oldest of them began.
    /// </summary>
    private SegmentStarted Rotate(DateOnly closedDay, DateOnly day, DateTimeOffset now)
    {
        _file.Flush(flushToDisk: true);
        _file.Dispose();
        var closed = ClosedSegmentPath(closedDay);
        File.Move(Path, closed);
        Renamed(closed);
        _file = new FileStream(Path, FileMode.Append, FileAccess.Write, FileShare.Read | FileShare.Delete);
        _segmentDay = day;
        var header = new SegmentStarted(System.IO.Path.GetFileName(closed), [.. _open.OrderBy(o => o.Value).Select(o => new OpenWithdrawal(o.Key, o.Value))])
        {
            Sequence = _sequence + 1,
            At = now,
        };
        WriteLine(Serialize(header), flushToDisk: true);
        _headerLength = _file.Length;
        _sequence = header.Sequence;
        _logger.LogInformation("Journal segment closed as {Segment}; {Open} withdrawal(s) still open", closed, _open.Count);
        ApplyRetention();
        return header;
    }

    /// <summary>The bad lines already met in the current segment keep being known under its closed name (reported once per run).</summary>
    private void Renamed(string closed)
    {
        lock (_reported)
        {
            foreach (var known in _reported.Where(r => r.Path == Path).ToList())
            {
                _reported.Remove(known);
                _reported.Add((closed, known.Line));
            }

            for (var i = 0; i < _loadSkipped.Count; i++)
            {
                if (_loadSkipped[i].Path == Path)
                {
                    _loadSkipped[i] = _loadSkipped[i] with { Path = closed };
                }
            }
        }
    }

    private string ClosedSegmentPath(DateOnly day)
    {
        var stamp = day.ToString("yyyyMMdd", CultureInfo.InvariantCulture);
        var next = ClosedSegments(Path).Where(c => c.Day == day).Select(c => c.Number).DefaultIfEmpty(0).Max() + 1;
        return System.IO.Path.Combine(System.IO.Path.GetDirectoryName(Path)!, $"{Stem(Path)}-{stamp}-{next.ToString("D3", CultureInfo.InvariantCulture)}.log");
    }

    /// <summary>Whether an entry opens or finishes a withdrawal that recovery would have to settle.</summary>
    private static void Track(Dictionary<string, long> open, JournalEntry entry)
    {
        if (entry.Session is null)
        {
            return;
        }

        if (JournalEvents.OpensWithdrawal(entry.Event))
        {
            open.TryAdd(entry.Session, entry.Sequence);
        }
        else if (JournalEvents.FinishesWithdrawal(entry.Event))
        {
            open.Remove(entry.Session);
        }
    }

    /// <summary>
    /// At opening: the last sequence, the current segment's day and the open withdrawals, read from the newest
    /// segment back to the first that starts with a segment header (the whole journal only when none does,
    /// e.g. one written before segments existed).
    /// </summary>
    private void LoadState()
    {
        var files = Segments(Path);
        var read = new List<List<JournalEntry>>();
        for (var i = files.Count - 1; i >= 0; i--)
        {
            var entries = new List<JournalEntry>();
            ReadFile(files[i], entries, _loadSkipped);
            read.Add(entries);
            if (entries.Count > 0 && entries[0] is SegmentStarted)
            {
                break;
            }
        }

        read.Reverse();
        foreach (var entry in read.SelectMany(e => e))
        {
            if (entry is SegmentStarted header)
            {
                _open.Clear();
                foreach (var open in header.Open)
                {
                    _open[open.Session] = open.Sequence;
                }
            }

            Track(_open, entry);
            _sequence = Math.Max(_sequence, entry.Sequence);
        }

        var current = File.Exists(Path) ? read[^1] : [];
        _segmentDay = current.Count == 0 ? null : DateOnly.FromDateTime(current[0].At.UtcDateTime);
    }

    /// <summary>
    /// Deletes the closed segments older than the retention, oldest first, stopping at the first that must
    /// stay: too recent, or holding an entry of a withdrawal that is not finished.
    /// </summary>
    private void ApplyRetention()
    {
        var today = DateOnly.FromDateTime(_time.GetUtcNow().UtcDateTime);
        var oldestOpen = _open.Count == 0 ? long.MaxValue : _open.Values.Min();
        var files = Segments(Path);
        var closed = ClosedSegments(Path);
        for (var i = 0; i < closed.Count; i++)
        {
            // Every entry of a segment comes before the next segment's first one.
            if (closed[i].Day.AddDays(_options.RetentionDays + 1) > today
                || i + 1 >= files.Count
                || FirstSequence(files[i + 1]) is not { } next
                || next > oldestOpen)
            {
                return;
            }

            try
            {
                File.Delete(closed[i].Path);
                _logger.LogInformation("Journal segment {Segment} deleted: older than {Days} days", closed[i].Path, _options.RetentionDays);
            }
            catch (IOException e)
            {
                _logger.LogWarning(e, "Journal segment {Segment} could not be deleted", closed[i].Path);
                return;
            }
        }
    }

    private static long? FirstSequence(string path)
    {
        foreach (var (_, line, _) in Lines(path))
        {
            if (line.Length > 0 && Parse(line, out var entry, out _))
            {
                return entry.Sequence;
            }
        }

        return null;
    }

    /// <summary>Writes the summaries whose interval is over (all when <paramref name="force"/>). The gate must be held.</summary>
    private void WriteDueSummaries(List<JournalEntry> written, bool force)
    {
        if (_unmatched is not { } tally || (!force && _time.GetUtcNow() - tally.First < SummaryInterval))
        {
            return;
        }

        var counts = tally.Counts.OrderBy(c => c.Key, StringComparer.Ordinal).ToDictionary(c => c.Key, c => c.Value, StringComparer.Ordinal);
        Append(written, new RequestsUnmatched(tally.First, tally.Last, tally.Total, counts));
        _unmatched = null;
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
        // The reasons never quote the line: they are read by people who must not see more than the journal shows.
        entry = null;
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(line);
        }
        catch (JsonException e)
        {
            reason = $"not valid JSON at byte {e.BytePositionInLine ?? 0} of {line.Length}";
            return false;
        }

        using (document)
        {
            var root = document.RootElement;
            try
            {
                entry = root.ValueKind != JsonValueKind.Object ? null
                    : LegacyJournalLine.Is(root) ? LegacyJournalLine.Convert(root)
                    : root.TryGetProperty("event", out _) ? root.Deserialize<JournalEntry>(Json)
                    : null;
            }
            catch (Exception e) when (e is JsonException or NotSupportedException or InvalidOperationException or FormatException or ArgumentException or OverflowException)
            {
                reason = e is JsonException json
                    ? $"JSON but not a journal entry (an unknown event or a value of the wrong kind at {json.Path ?? "$"})"
                    : $"JSON but not a journal entry (a value that cannot be read: {e.GetType().Name})";
                entry = null;
                return false;
            }
        }

        if (entry is null || entry.Sequence <= 0)
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
