using CardlessAtm.Terminal.Journal;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace CardlessAtm.Terminal.Tests.MoneyPath;

/// <summary>
/// The journal's surviving mutants: its argument checks, segment boundaries to the byte, which segments recovery and
/// retention read when several withdrawals are open, a segment header that is corrupt, reading files longer than one
/// read buffer, why a line is skipped (read back through the journal's reader) and when a bad line is reported.
/// </summary>
public sealed class JournalSegmentMutationTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("cardless-atm-journal-seg-");
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 1, 10, 0, 0, TimeSpan.Zero));

    private string JournalPath => Path.Combine(_directory.FullName, "journal.log");

    public void Dispose() => _directory.Delete(recursive: true);

    [Fact]
    public async Task Blank_and_null_arguments_are_refused_before_anything_is_opened_or_written()
    {
        Assert.Equal("path", Assert.Throws<ArgumentException>(() => new ElectronicJournal("   ", _time)).ParamName);
        Assert.Equal("timeProvider", Assert.Throws<ArgumentNullException>(() => new ElectronicJournal(JournalPath, null!)).ParamName);
        Assert.False(File.Exists(JournalPath));
        Assert.Equal("path", Assert.Throws<ArgumentException>(() => ElectronicJournal.ReadSegment("  ")).ParamName);
        Assert.Equal("path", Assert.Throws<ArgumentException>(() => ElectronicJournal.Segments("  ")).ParamName);
        Assert.Equal("entries", Assert.Throws<ArgumentNullException>(() => ElectronicJournal.Export(null!)).ParamName);
        Assert.Equal("e", Assert.Throws<ArgumentNullException>(() => ElectronicJournal.Export([JournalSamples.Started(), null!])).ParamName);

        using var journal = new ElectronicJournal(JournalPath, _time);
        Assert.Equal("entry", (await Assert.ThrowsAsync<ArgumentNullException>(() => journal.WriteAsync<JournalEntry>(null!))).ParamName);
        Assert.Equal("key", (await Assert.ThrowsAsync<ArgumentException>(() => journal.CountAsync(" "))).ParamName);
        await journal.FlushSummariesAsync();
        Assert.Empty(journal.ReadAllEntries());
    }

    [Fact]
    public async Task A_journal_in_a_folder_that_does_not_exist_yet_creates_the_folder()
    {
        var path = Path.Combine(_directory.FullName, "new", "deeper", "journal.log");
        using var journal = new ElectronicJournal(path, _time);

        await journal.WriteAsync(JournalSamples.Started());

        Assert.Equal([path], ElectronicJournal.Segments(path));
        Assert.IsType<TerminalStarted>(Assert.Single(ElectronicJournal.ReadAll(path).Entries));
    }

    [Fact]
    public void A_skipped_line_is_logged_to_the_journals_logger_with_its_file_and_line()
    {
        File.WriteAllText(JournalPath, "{\"event\":\"terminal-started\",\"sequence\":1,\"at\":\"2026-12-01T10:00:00+00:00\",\"atm\":\"A\"}\nnot json\n");
        var logger = new ListLogger();
        using var journal = new ElectronicJournal(JournalPath, _time, logger);

        var read = journal.ReadAllEntries();

        Assert.Single(read.Entries);
        Assert.Equal(2, Assert.Single(read.Skipped).LineNumber);
        var logged = Assert.Single(logger.Lines, l => l.Level == LogLevel.Error);
        Assert.Contains($"{JournalPath}:2 skipped", logged.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_summary_waits_for_its_interval_and_is_raised_when_a_count_writes_it()
    {
        using var journal = new ElectronicJournal(JournalPath, _time);
        var raised = new List<JournalEntry>();
        journal.Written += raised.Add;

        await journal.CountAsync("91 no session");
        await journal.WriteAsync(JournalSamples.Started()); // within the interval: no summary yet
        Assert.Equal([JournalEvents.Started], journal.ReadAllEntries().Select(e => e.Event));

        _time.Advance(journal.SummaryInterval);
        await journal.CountAsync("91 no session"); // the first count after the interval writes the summary of the first

        var summary = Assert.IsType<RequestsUnmatched>(journal.ReadAllEntries()[1]);
        Assert.Equal((1L, 1L), (summary.Total, summary.Counts["91 no session"]));
        Assert.Equal([JournalEvents.Started, JournalEvents.RequestsUnmatched], raised.Select(e => e.Event));
        Assert.Equal(2, raised[1].Sequence);
    }

    [Fact]
    public async Task Recovery_reads_back_to_the_segment_of_the_oldest_open_withdrawal_not_the_newest()
    {
        using (var journal = new ElectronicJournal(JournalPath, _time))
        {
            await journal.WriteAsync(JournalSamples.Asked("old", 1));
            _time.Advance(TimeSpan.FromDays(1));
            await journal.WriteAsync(JournalSamples.Asked("new", 2));
            _time.Advance(TimeSpan.FromDays(1));
            await journal.WriteAsync(JournalSamples.Started());
        }

        using var reopened = new ElectronicJournal(JournalPath, _time);
        var unfinished = reopened.ReadUnfinished();

        Assert.Equal(3, unfinished.Files.Count);
        Assert.Equal([("old", 1L), ("new", 3L)], unfinished.OfType<AuthoriseRequested>().Select(e => (e.Session!, e.Sequence)));
    }

    [Fact]
    public async Task Retention_keeps_the_segment_of_the_oldest_open_withdrawal_when_a_newer_one_is_open_too()
    {
        var options = new JournalOptions { RetentionDays = 1 };
        using var journal = new ElectronicJournal(JournalPath, _time, null, options);
        await journal.WriteAsync(JournalSamples.Asked("old", 1));
        _time.Advance(TimeSpan.FromDays(1));
        await journal.WriteAsync(JournalSamples.Asked("new", 2));
        _time.Advance(TimeSpan.FromDays(1));
        await journal.WriteAsync(JournalSamples.Started());
        var first = ElectronicJournal.Segments(JournalPath)[0];

        _time.Advance(TimeSpan.FromDays(10));
        await journal.WriteAsync(JournalSamples.Started()); // rotates and applies retention

        Assert.True(File.Exists(first), "the segment holding the oldest open withdrawal was deleted");
        Assert.Equal(4, ElectronicJournal.Segments(JournalPath).Count);
        Assert.Contains(journal.ReadUnfinished(), e => e is AuthoriseRequested { Session: "old" });
    }

    [Fact]
    public async Task A_file_beside_the_journal_that_only_looks_like_a_segment_is_ignored()
    {
        File.WriteAllText(Path.Combine(_directory.FullName, "journal-old.log"), "not a segment\n");
        File.WriteAllText(Path.Combine(_directory.FullName, "journal-2026x201-001.log"), "not a segment\n");
        using var journal = new ElectronicJournal(JournalPath, _time);

        await journal.WriteAsync(JournalSamples.Started());

        Assert.Equal([JournalPath], ElectronicJournal.Segments(JournalPath));
        Assert.Empty(journal.ReadAllEntries().Skipped);
    }

    [Fact]
    public async Task A_hand_edited_line_whose_event_is_not_the_first_property_is_still_read()
    {
        File.WriteAllText(JournalPath, "{\"sequence\":1,\"at\":\"2026-12-01T10:00:00+00:00\",\"atm\":\"ATM00009\",\"event\":\"terminal-started\"}\n");
        using var journal = new ElectronicJournal(JournalPath, _time);

        var written = await journal.WriteAsync(JournalSamples.Started());

        var read = journal.ReadAllEntries();
        Assert.Empty(read.Skipped);
        Assert.Equal("ATM00009", Assert.IsType<TerminalStarted>(read[0]).Atm);
        Assert.Equal(2, written.Sequence);
    }

    [Theory]
    [InlineData("{\"sequence\":5,\"at\":\"2026-12-01T10:00:00+00:00\"}", "JSON but not a journal entry (no sequence or event)")]
    [InlineData("{\"event\":\"terminal-started\",\"sequence\":0,\"at\":\"2026-12-01T10:00:00+00:00\",\"atm\":\"A\"}", "JSON but not a journal entry (no sequence or event)")]
    [InlineData("{\"event\":\"terminal-started\",\"sequence\":\"one\",\"at\":\"2026-12-01T10:00:00+00:00\",\"atm\":\"A\"}", "JSON but not a journal entry (an unknown event or a value of the wrong kind at $.sequence)")]
    [InlineData("{\"event\":\"no-such-event\",\"sequence\":3}", "JSON but not a journal entry (an unknown event or a value of the wrong kind at $)")]
    [InlineData("{\"event\" 1}", "not valid JSON at byte 9 of 11")] // byte 9 is the 1 where the colon belongs
    public async Task A_bad_line_is_skipped_with_the_reason_it_is_not_an_entry(string line, string reason)
    {
        File.WriteAllText(JournalPath, line + "\n");
        using var journal = new ElectronicJournal(JournalPath, _time);

        var written = await journal.WriteAsync(JournalSamples.Started());

        var read = journal.ReadAllEntries();
        Assert.Equal([written.Sequence], read.Select(e => e.Sequence));
        Assert.Equal(new SkippedJournalLine(JournalPath, 1, reason, Torn: false), Assert.Single(read.Skipped));
    }

    [Fact]
    public async Task A_journal_longer_than_one_read_buffer_reads_back_every_entry()
    {
        using var journal = new ElectronicJournal(JournalPath, _time);
        for (var i = 0; i < 1_000; i++)
        {
            await journal.WriteAsync(JournalSamples.Asked($"s-{i}", i % 999_999 + 1));
        }

        Assert.True(new FileInfo(JournalPath).Length > 2 * (1 << 16));
        var read = ElectronicJournal.ReadAll(JournalPath);

        Assert.Empty(read.Skipped);
        Assert.Equal(Enumerable.Range(1, 1_000).Select(i => (long)i), read.Select(e => e.Sequence));
        Assert.Equal("s-999", read[^1].Session);
    }

    [Fact]
    public async Task A_line_whose_newline_is_the_first_byte_of_the_second_read_buffer_is_still_one_line()
    {
        // Measure the line of a NotesTaken with a 100-character reason, then size the reason so that line 1 fills the first
        // 65,536 bytes exactly and its newline starts the second read.
        var scratch = Path.Combine(_directory.FullName, "scratch", "journal.log");
        using (var measure = new ElectronicJournal(scratch, _time))
        {
            await measure.WriteAsync(new NotesTaken(new string('x', 100)));
        }

        var overhead = new FileInfo(scratch).Length - 1 - 100;
        using var journal = new ElectronicJournal(JournalPath, _time);
        await journal.WriteAsync(new NotesTaken(new string('x', (int)((1 << 16) - overhead))));
        await journal.WriteAsync(JournalSamples.Started());
        var bytes = File.ReadAllBytes(JournalPath);
        Assert.Equal((byte)'\n', bytes[1 << 16]);

        var read = ElectronicJournal.ReadAll(JournalPath);

        Assert.Empty(read.Skipped);
        Assert.Equal([JournalEvents.NotesTaken, JournalEvents.Started], read.Select(e => e.Event));
    }

    [Theory]
    [InlineData(0, 1)] // the second line fits to the byte: no rotation
    [InlineData(-1, 2)] // one byte over: a new segment
    public async Task A_segment_rotates_only_when_the_next_line_would_not_fit(int slack, int segments)
    {
        var scratch = Path.Combine(_directory.FullName, "scratch", "journal.log");
        using (var measure = new ElectronicJournal(scratch, _time))
        {
            await measure.WriteAsync(JournalSamples.Started());
            await measure.WriteAsync(JournalSamples.Started());
        }

        var twoLines = new FileInfo(scratch).Length;
        using var journal = new ElectronicJournal(JournalPath, _time, null, new JournalOptions { MaxSegmentBytes = twoLines + slack });

        await journal.WriteAsync(JournalSamples.Started());
        await journal.WriteAsync(JournalSamples.Started());

        Assert.Equal(segments, ElectronicJournal.Segments(JournalPath).Count);
        Assert.Equal(segments == 1 ? [JournalEvents.Started, JournalEvents.Started] : [JournalEvents.Started, JournalEvents.SegmentStarted, JournalEvents.Started], journal.ReadAllEntries().Select(e => e.Event));
    }

    [Fact]
    public async Task A_corrupt_segment_header_makes_the_reopened_journal_read_further_back_for_the_open_withdrawals()
    {
        using (var journal = new ElectronicJournal(JournalPath, _time))
        {
            await journal.WriteAsync(JournalSamples.Asked("old", 1));
            _time.Advance(TimeSpan.FromDays(1));
            await journal.WriteAsync(JournalSamples.Asked("new", 2)); // a new segment: header, then this
        }

        var lines = File.ReadAllLines(JournalPath);
        Assert.StartsWith("{\"event\":\"journal-segment\"", lines[0], StringComparison.Ordinal);
        lines[0] = "{\"event\":\"journal-segment\",\"seq"; // bit rot in the header
        File.WriteAllLines(JournalPath, lines);

        using var reopened = new ElectronicJournal(JournalPath, _time);
        var unfinished = reopened.ReadUnfinished();
        var next = await reopened.WriteAsync(JournalSamples.Started()); // the same day: no new segment

        Assert.Equal(["old", "new"], unfinished.OfType<AuthoriseRequested>().Select(e => e.Session!));
        Assert.Equal(4, next.Sequence);
        Assert.Equal(2, ElectronicJournal.Segments(JournalPath).Count);
    }

    [Fact]
    public async Task A_bad_line_in_an_older_segment_is_not_reported_by_a_start_up_that_does_not_read_it()
    {
        using (var journal = new ElectronicJournal(JournalPath, _time))
        {
            await journal.WriteAsync(JournalSamples.Started());
        }

        File.AppendAllText(JournalPath, "garbage\n");
        using (var journal = new ElectronicJournal(JournalPath, _time))
        {
            _time.Advance(TimeSpan.FromDays(1));
            await journal.WriteAsync(JournalSamples.Started()); // closes the segment with the bad line
        }

        using var reopened = new ElectronicJournal(JournalPath, _time);
        var unfinished = reopened.ReadUnfinished();

        Assert.Empty(unfinished);
        Assert.Empty(unfinished.Skipped);
        Assert.Equal([JournalPath], unfinished.Files);
        var all = reopened.ReadAllEntries();
        Assert.Equal((ElectronicJournal.Segments(JournalPath)[0], 2), (Assert.Single(all.Skipped).Path, all.Skipped[0].LineNumber));
    }

    [Fact]
    public async Task A_bad_line_reported_before_its_segment_closed_is_not_reported_again_under_the_closed_name()
    {
        using (var journal = new ElectronicJournal(JournalPath, _time))
        {
            await journal.WriteAsync(JournalSamples.Started());
        }

        File.AppendAllText(JournalPath, "garbage\n");
        using var reopened = new ElectronicJournal(JournalPath, _time);
        var reported = new List<SkippedJournalLine>();
        reopened.LineSkipped += reported.Add;
        Assert.Equal(JournalPath, Assert.Single(reopened.ReadAllEntries().Skipped).Path);

        _time.Advance(TimeSpan.FromDays(1));
        await reopened.WriteAsync(JournalSamples.Started());
        var again = reopened.ReadAllEntries();

        var closed = ElectronicJournal.Segments(JournalPath)[0];
        Assert.Equal((closed, 2), (Assert.Single(again.Skipped).Path, again.Skipped[0].LineNumber));
        Assert.Equal([(JournalPath, 2)], reported.Select(r => (r.Path, r.LineNumber)));
    }

    [Fact]
    public async Task A_bad_line_at_the_same_line_number_of_the_new_segment_is_reported_too()
    {
        using (var journal = new ElectronicJournal(JournalPath, _time))
        {
            await journal.WriteAsync(JournalSamples.Started());
            await journal.WriteAsync(JournalSamples.Started());
        }

        File.AppendAllText(JournalPath, "garbage\n"); // line 3
        using var reopened = new ElectronicJournal(JournalPath, _time);
        var reported = new List<SkippedJournalLine>();
        reopened.LineSkipped += reported.Add;
        reopened.ReadAllEntries();
        _time.Advance(TimeSpan.FromDays(1));
        await reopened.WriteAsync(JournalSamples.Started()); // the new segment: header, this entry
        File.AppendAllText(JournalPath, "garbage\n"); // line 3 again, in the new segment

        var read = reopened.ReadAllEntries();

        var closed = ElectronicJournal.Segments(JournalPath)[0];
        Assert.Equal([(closed, 3), (JournalPath, 3)], read.Skipped.Select(l => (l.Path, l.LineNumber)));
        Assert.Equal([(JournalPath, 3), (JournalPath, 3)], reported.Select(r => (r.Path, r.LineNumber)));
    }

    [Fact]
    public async Task Retention_deletes_an_old_segment_whose_successor_begins_with_the_open_withdrawals_request()
    {
        // Segments written before headers existed: the open withdrawal's request is the first line of the second one.
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 1, 10, 0, 0, TimeSpan.Zero));
        var first = Path.Combine(_directory.FullName, "journal-20261101-001.log");
        var second = Path.Combine(_directory.FullName, "journal-20261102-001.log");
        using (var journal = new ElectronicJournal(JournalPath, time))
        {
            await journal.WriteAsync(JournalSamples.Started());
        }

        File.Move(JournalPath, first);
        time.Advance(TimeSpan.FromDays(1));
        using (var journal = new ElectronicJournal(JournalPath, time))
        {
            Assert.Equal(2, (await journal.WriteAsync(JournalSamples.Asked("open", 1))).Sequence);
        }

        File.Move(JournalPath, second);
        time.Advance(TimeSpan.FromDays(10));

        using var reopened = new ElectronicJournal(JournalPath, time, null, new JournalOptions { RetentionDays = 1 });

        Assert.False(File.Exists(first), "a segment with nothing of the open withdrawal was kept");
        Assert.Equal([second, JournalPath], ElectronicJournal.Segments(JournalPath));
        Assert.Contains(reopened.ReadUnfinished(), e => e is AuthoriseRequested { Session: "open" });
    }

    [Fact]
    public async Task A_closed_journal_refuses_counts_as_it_refuses_entries()
    {
        var journal = new ElectronicJournal(JournalPath, _time);
        await journal.WriteAsync(JournalSamples.Started());
        journal.Dispose();

        await Assert.ThrowsAsync<ObjectDisposedException>(() => journal.CountAsync("91 no session"));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => journal.WriteAsync(JournalSamples.Started()));
        Assert.Equal([1L], ElectronicJournal.ReadAll(JournalPath).Select(e => e.Sequence));
    }

    [Fact]
    public void An_old_format_entry_of_an_unknown_event_is_exported_with_its_own_details_only()
    {
        File.WriteAllText(JournalPath, "{\"Sequence\":1,\"At\":\"2026-12-01T10:00:00+00:00\",\"Event\":\"door-opened\",\"Session\":\"s-9\",\"Data\":{\"door\":\"safe\",\"by\":\"cit\"}}\n");
        using var journal = new ElectronicJournal(JournalPath, _time);

        var entry = Assert.IsType<UntypedEntry>(Assert.Single(journal.ReadAllEntries()));

        Assert.Equal("     1 2026-12-01 10:00:00.000 door-opened            session=s-9 door=safe by=cit" + Environment.NewLine, ElectronicJournal.Export([entry]));
    }

    [Fact]
    public async Task Closing_the_journal_closes_every_segment_file_it_had_open()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // the open files are read from /proc
        }

        var journal = new ElectronicJournal(JournalPath, _time);
        await journal.WriteAsync(JournalSamples.Started());
        _time.Advance(TimeSpan.FromDays(1));
        await journal.WriteAsync(JournalSamples.Started()); // rotation: the closed segment's handle must be released
        Assert.Equal(1, OpenFilesIn(_directory.FullName));

        journal.Dispose();

        Assert.Equal(0, OpenFilesIn(_directory.FullName));
    }

    private static int OpenFilesIn(string directory) =>
        Directory.GetFiles("/proc/self/fd").Count(fd =>
        {
            try
            {
                return new FileInfo(fd).LinkTarget is { } target && target.StartsWith(directory + Path.DirectorySeparatorChar, StringComparison.Ordinal);
            }
            catch (IOException)
            {
                return false; // closed between the listing and the read
            }
        });

    private sealed class ListLogger : ILogger
    {
        public List<(LogLevel Level, string Text)> Lines { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Lines.Add((logLevel, formatter(state, exception)));
    }
}
