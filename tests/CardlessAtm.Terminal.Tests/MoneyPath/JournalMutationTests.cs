using CardlessAtm.Terminal.Journal;
using Microsoft.Extensions.Time.Testing;

namespace CardlessAtm.Terminal.Tests.MoneyPath;

/// <summary>
/// The journal details recovery and the operators depend on: sequence numbers across restarts and segments,
/// which withdrawals are open, what a segment header records, what a summary counts, and what is skipped.
/// </summary>
public sealed class JournalMutationTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("cardless-atm-journal-");
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 1, 10, 0, 0, TimeSpan.Zero));

    private string JournalPath => Path.Combine(_directory.FullName, "journal.log");

    private ElectronicJournal Open(JournalOptions? options = null) => new(JournalPath, _time, null, options);


    [Fact]
    public async Task Entries_are_numbered_from_1_and_a_reopened_journal_continues_the_numbering()
    {
        using (var journal = Open())
        {
            Assert.Equal(1, (await journal.WriteAsync(JournalSamples.Started())).Sequence);
            var second = await journal.WriteAsync(JournalSamples.Asked("s", 5));
            Assert.Equal((2L, _time.GetUtcNow(), "s", (int?)5), (second.Sequence, second.At, second.Session, second.Stan));
        }

        using var reopened = Open();
        Assert.Equal(3, (await reopened.WriteAsync(JournalSamples.Started())).Sequence);
        var all = reopened.ReadAllEntries();
        Assert.Equal([1L, 2L, 3L], all.Select(e => e.Sequence));
        Assert.Equal(new JournalAmount(8_000, "EUR"), Assert.IsType<AuthoriseRequested>(all[1]).Amount);
        Assert.Equal(JournalSamples.AtmId, Assert.IsType<TerminalStarted>(all[0]).Atm);
    }

    [Fact]
    public async Task Only_withdrawals_asked_and_not_finished_are_read_for_recovery_even_after_a_restart()
    {
        using (var journal = Open())
        {
            await journal.WriteAsync(JournalSamples.Asked("open", 1));
            await journal.WriteAsync(JournalSamples.Asked("ended", 2));
            await journal.WriteAsync(JournalSamples.Ended("ended"));
            await journal.WriteAsync(JournalSamples.Asked("recovered", 3));
            await journal.WriteAsync(new Recovered("test", new JournalAmount(0, "EUR"), "full") { Session = "recovered", Stan = 3 });
            await journal.WriteAsync(new QrShown(new JournalAmount(8_000, "EUR"), _time.GetUtcNow().AddMinutes(2)) { Session = "never-asked" });
            await journal.WriteAsync(JournalSamples.Answered("open", 1));
            await journal.WriteAsync(JournalSamples.Started());
        }

        using var reopened = Open();
        var unfinished = reopened.ReadUnfinished();

        Assert.Equal([(JournalEvents.AuthoriseRequest, "open"), (JournalEvents.AuthoriseAnswer, "open")], unfinished.Select(e => (e.Event, e.Session!)));
        Assert.Equal([JournalPath], unfinished.Files);
    }

    [Fact]
    public async Task Nothing_open_reads_nothing()
    {
        using var journal = Open();
        await journal.WriteAsync(JournalSamples.Asked("s", 1));
        await journal.WriteAsync(JournalSamples.Ended("s"));

        Assert.Empty(journal.ReadUnfinished());
    }

    [Fact]
    public async Task A_segment_closes_before_it_would_exceed_its_size_and_its_successor_records_the_open_withdrawals()
    {
        var options = new JournalOptions { MaxSegmentBytes = 600 };
        using var journal = Open(options);
        await journal.WriteAsync(JournalSamples.Asked("a", 1));
        await journal.WriteAsync(JournalSamples.Asked("b", 2));
        while (ElectronicJournal.Segments(JournalPath).Count == 1)
        {
            await journal.WriteAsync(JournalSamples.Sensor("Door"));
        }

        var closed = ElectronicJournal.Segments(JournalPath)[0];
        Assert.Equal(Path.Combine(_directory.FullName, "journal-20261201-001.log"), closed);
        Assert.True(new FileInfo(closed).Length <= 600);
        var header = ElectronicJournal.ReadSegment(JournalPath)[0];
        Assert.Equal(JournalEvents.SegmentStarted, header.Event);
        var started = Assert.IsType<SegmentStarted>(header);
        Assert.Equal("journal-20261201-001.log", started.Previous);
        Assert.Equal([new OpenWithdrawal("a", 1), new OpenWithdrawal("b", 2)], started.Open);
        Assert.Equal(ElectronicJournal.ReadSegment(closed)[^1].Sequence + 1, header.Sequence);
        Assert.Equal(header.Sequence + 1, ElectronicJournal.ReadSegment(JournalPath)[1].Sequence); // the entry that did not fit
        var next = await journal.WriteAsync(JournalSamples.Started());
        Assert.Equal(header.Sequence + 2, next.Sequence);

        await journal.WriteAsync(JournalSamples.Ended("a"));
        await journal.WriteAsync(JournalSamples.Ended("b")); // either may itself have closed a segment
        var segments = ElectronicJournal.Segments(JournalPath).Count;
        while (ElectronicJournal.Segments(JournalPath).Count == segments)
        {
            await journal.WriteAsync(JournalSamples.Sensor("Door"));
        }

        Assert.Equal(Path.Combine(_directory.FullName, $"journal-20261201-{segments:D3}.log"), ElectronicJournal.Segments(JournalPath)[segments - 1]);
        Assert.Empty(Assert.IsType<SegmentStarted>(ElectronicJournal.ReadSegment(JournalPath)[0]).Open);
    }

    [Fact]
    public async Task A_new_utc_day_starts_a_new_segment_named_after_the_closed_day()
    {
        using (var journal = Open())
        {
            await journal.WriteAsync(JournalSamples.Started());
            _time.Advance(TimeSpan.FromHours(13)); // 23:00 the same day
            await journal.WriteAsync(JournalSamples.Started());
            Assert.Single(ElectronicJournal.Segments(JournalPath));
            _time.Advance(TimeSpan.FromHours(2)); // 01:00 the next day
            await journal.WriteAsync(JournalSamples.Started());
        }

        Assert.Equal([Path.Combine(_directory.FullName, "journal-20261201-001.log"), JournalPath], ElectronicJournal.Segments(JournalPath));
        Assert.Equal([JournalEvents.SegmentStarted, JournalEvents.Started], ElectronicJournal.ReadSegment(JournalPath).Select(e => e.Event));

        using var reopened = Open(); // the current segment's day is read back: no second rotation today
        await reopened.WriteAsync(JournalSamples.Started());
        Assert.Equal(2, ElectronicJournal.Segments(JournalPath).Count);
    }

    [Fact]
    public async Task Recovery_reads_back_only_to_the_segment_where_the_oldest_open_withdrawal_began()
    {
        var options = new JournalOptions { MaxSegmentBytes = 400 };
        using var journal = Open(options);
        for (var i = 0; i < 30; i++)
        {
            await journal.WriteAsync(JournalSamples.Sensor("Door"));
        }

        var before = ElectronicJournal.Segments(JournalPath).Count;
        await journal.WriteAsync(JournalSamples.Asked("late", 9));
        var began = ElectronicJournal.Segments(JournalPath).Count;
        for (var i = 0; i < 30; i++)
        {
            await journal.WriteAsync(JournalSamples.Sensor("Door"));
        }

        var unfinished = journal.ReadUnfinished();

        Assert.True(before > 1);
        var all = ElectronicJournal.Segments(JournalPath);
        Assert.True(unfinished.Files.Count < all.Count);
        Assert.Equal(all.Skip(began - 1), unfinished.Files);
        Assert.Equal("late", Assert.Single(unfinished).Session);
    }

    [Fact]
    public async Task Retention_deletes_old_segments_but_never_one_holding_an_unfinished_withdrawal_or_any_after_it()
    {
        var options = new JournalOptions { RetentionDays = 1 };
        using (var journal = Open(options))
        {
            await journal.WriteAsync(JournalSamples.Started()); // day 1: closed, nothing open
            _time.Advance(TimeSpan.FromDays(1));
            await journal.WriteAsync(JournalSamples.Asked("open", 1)); // day 2: open withdrawal
            _time.Advance(TimeSpan.FromDays(1));
            await journal.WriteAsync(JournalSamples.Started()); // day 3
            _time.Advance(TimeSpan.FromDays(1));
            await journal.WriteAsync(JournalSamples.Started()); // day 4
        }

        _time.Advance(TimeSpan.FromDays(3));
        using (Open(options))
        {
            // day 1 is old and holds nothing open: deleted; day 2 holds the open withdrawal: it and every later one stay
            Assert.Equal(
                ["journal-20261202-001.log", "journal-20261203-001.log", "journal.log"],
                ElectronicJournal.Segments(JournalPath).Select(Path.GetFileName));
        }
    }

    [Fact]
    public async Task Retention_keeps_a_segment_until_it_is_more_than_the_retention_days_old()
    {
        var options = new JournalOptions { RetentionDays = 2 };
        using (var journal = Open(options))
        {
            await journal.WriteAsync(JournalSamples.Started());
            _time.Advance(TimeSpan.FromDays(1));
            await journal.WriteAsync(JournalSamples.Started());
        }

        _time.Advance(TimeSpan.FromDays(1)); // 2026-12-03: the 12-01 segment is 2 days old
        using (Open(options))
        {
            Assert.Equal(2, ElectronicJournal.Segments(JournalPath).Count);
        }

        _time.Advance(TimeSpan.FromDays(1)); // 2026-12-04: 3 days old
        using (Open(options))
        {
            Assert.Equal([JournalPath], ElectronicJournal.Segments(JournalPath));
        }
    }

    [Fact]
    public async Task Counts_become_one_summary_once_the_interval_is_over_written_before_the_next_entry()
    {
        using var journal = new ElectronicJournal(JournalPath, _time) { SummaryInterval = TimeSpan.FromMinutes(1) };
        var first = _time.GetUtcNow();
        await journal.CountAsync("b");
        _time.Advance(TimeSpan.FromSeconds(30));
        await journal.CountAsync("a");
        await journal.CountAsync("b");
        _time.Advance(TimeSpan.FromSeconds(29));
        await journal.WriteAsync(JournalSamples.Sensor());
        Assert.DoesNotContain(journal.ReadAllEntries(), e => e.Event == JournalEvents.RequestsUnmatched);

        _time.Advance(TimeSpan.FromSeconds(1)); // exactly one interval after the first count
        await journal.WriteAsync(JournalSamples.Started());

        var entries = journal.ReadAllEntries();
        Assert.Equal([JournalEvents.Sensor, JournalEvents.RequestsUnmatched, JournalEvents.Started], entries.Select(e => e.Event));
        var summary = Assert.IsType<RequestsUnmatched>(entries[1]);
        Assert.Equal((3L, 1L, 2L), (summary.Total, summary.Counts["a"], summary.Counts["b"]));
        Assert.Equal((first, first.AddSeconds(30)), (summary.From, summary.To));
        Assert.Equal(["a", "b"], summary.Counts.Keys);
        Assert.Equal((2L, 3L), (summary.Sequence, entries[2].Sequence));

        await journal.CountAsync("c");
        await journal.FlushSummariesAsync();
        Assert.Equal(1, Assert.IsType<RequestsUnmatched>(journal.ReadAllEntries()[^1]).Total);
        await journal.FlushSummariesAsync();
        Assert.Equal(4, journal.ReadAllEntries().Count);
    }

    [Fact]
    public async Task A_count_after_the_interval_writes_the_summary_itself_and_starts_a_new_one()
    {
        var written = new List<string>();
        using var journal = new ElectronicJournal(JournalPath, _time) { SummaryInterval = TimeSpan.FromMinutes(1) };
        journal.Written += e => written.Add(e.Event);
        await journal.CountAsync("a");
        _time.Advance(TimeSpan.FromMinutes(2));

        await journal.CountAsync("a");

        Assert.Equal([JournalEvents.RequestsUnmatched], written);
        Assert.Equal(1, Assert.IsType<RequestsUnmatched>(journal.ReadAllEntries()[0]).Total);
        journal.Dispose();
        Assert.Equal(2, ElectronicJournal.ReadAll(JournalPath).Count);
    }

    [Fact]
    public async Task Closing_writes_what_is_still_counted()
    {
        var journal = new ElectronicJournal(JournalPath, _time);
        await journal.CountAsync("k");
        journal.Dispose();
        journal.Dispose(); // twice is harmless

        var summary = Assert.IsType<RequestsUnmatched>(Assert.Single(ElectronicJournal.ReadAll(JournalPath)));
        Assert.Equal((1L, 1L), (summary.Total, summary.Counts["k"]));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => journal.WriteAsync(JournalSamples.Started()));
    }

    [Fact]
    public void Lines_that_are_json_but_not_entries_are_skipped_with_a_reason_and_reported_once()
    {
        File.WriteAllText(JournalPath, string.Join('\n',
            """{"Sequence":1,"At":"2026-12-01T10:00:00+00:00","Event":"terminal-started"}""",
            """{"Sequence":0,"At":"2026-12-01T10:00:00+00:00","Event":"terminal-started"}""",
            """{"Sequence":3,"At":"2026-12-01T10:00:00+00:00","Event":""}""",
            "",
            "null",
            """{"Sequence":4,"At":"2026-12-01T10:00:00+00:00","Event":"terminal-started"}""") + "\n{\"Seq");
        var torn = ElectronicJournal.ReadAll(JournalPath).Skipped[^1];
        Assert.Equal((7, true), (torn.LineNumber, torn.Torn));
        Assert.StartsWith("torn: the file ends mid-line", torn.Reason, StringComparison.Ordinal);
        var skippedEvents = new List<int>();
        using var journal = Open();
        journal.LineSkipped += l => skippedEvents.Add(l.LineNumber);

        var result = journal.ReadAllEntries();
        journal.ReadAllEntries();

        Assert.Equal([1L, 4L], result.Select(e => e.Sequence));
        Assert.Equal([2, 3, 5, 7], result.Skipped.Select(s => s.LineNumber));
        Assert.All(result.Skipped.Take(3), s => Assert.Equal(("JSON but not a journal entry (no sequence or event)", false), (s.Reason, s.Torn)));
        Assert.False(result.Skipped[3].Torn); // opening ended the torn line: it is now an ordinary bad line
        Assert.Equal([2, 3, 5, 7], skippedEvents);
        Assert.Equal($"{JournalPath}:2: JSON but not a journal entry (no sequence or event)", result.Skipped[0].ToString());
    }

    [Fact]
    public async Task After_a_torn_last_line_the_next_entry_starts_on_a_line_of_its_own_and_continues_the_numbering()
    {
        File.WriteAllText(JournalPath, """{"Sequence":1,"At":"2026-12-01T10:00:00+00:00","Event":"terminal-started"}""" + "\n{\"Sequence\":2,\"At");

        using (var journal = Open())
        {
            Assert.Equal(2, (await journal.WriteAsync(JournalSamples.Started())).Sequence);
        }

        var result = ElectronicJournal.ReadAll(JournalPath);
        Assert.Equal([1L, 2L], result.Select(e => e.Sequence));
        var skipped = Assert.Single(result.Skipped);
        Assert.Equal((2, false), (skipped.LineNumber, skipped.Torn)); // no longer the last line: now just corrupt
        Assert.StartsWith("not valid JSON at byte", skipped.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_journal_that_ends_with_a_newline_gets_no_blank_line()
    {
        using (var journal = Open())
        {
            await journal.WriteAsync(JournalSamples.Started());
        }

        using (var journal = Open())
        {
            await journal.WriteAsync(JournalSamples.Started());
        }

        Assert.Equal(2, File.ReadAllLines(JournalPath).Length);
    }

    [Fact]
    public async Task The_startup_read_for_recovery_reports_the_bad_lines_met_when_opening()
    {
        File.WriteAllText(JournalPath, "garbage\n");
        using var journal = Open();
        await journal.WriteAsync(JournalSamples.Asked("s", 1));

        var unfinished = journal.ReadUnfinished();

        var skipped = Assert.Single(unfinished.Skipped);
        Assert.Equal((JournalPath, 1), (skipped.Path, skipped.LineNumber));
        Assert.Single(unfinished);
    }

    [Fact]
    public async Task The_export_is_one_readable_line_per_entry()
    {
        using var journal = Open();
        await journal.WriteAsync(JournalSamples.Asked("s-1", 42));
        await journal.WriteAsync(JournalSamples.Started());

        var text = ElectronicJournal.Export(journal.ReadAllEntries());

        Assert.Equal(
            "     1 2026-12-01 10:00:00.000 authorise-request      session=s-1 stan=000042 rrn=633510000042 transmission=1201100000 amount={\"amountMinor\":8000,\"currency\":\"EUR\"}" + Environment.NewLine
            + "     2 2026-12-01 10:00:00.000 terminal-started       atm=ATM00001" + Environment.NewLine,
            text);
    }

    [Fact]
    public async Task The_check_lists_each_bad_line_and_exits_2_or_reports_clean_with_0()
    {
        using (var journal = Open())
        {
            await journal.WriteAsync(JournalSamples.Started());
            await journal.WriteAsync(JournalSamples.Started());
        }

        var clean = new StringWriter();
        Assert.Equal(JournalCheck.Clean, JournalCheck.Run(JournalPath, clean));
        Assert.Equal("Journal clean: 2 entries in 1 file(s)." + Environment.NewLine, clean.ToString());

        File.AppendAllText(JournalPath, "{broken\n");
        var bad = new StringWriter();
        Assert.Equal(JournalCheck.BadLines, JournalCheck.Run(JournalPath, bad));
        var lines = bad.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.StartsWith($"{JournalPath}:3: not valid JSON", lines[0], StringComparison.Ordinal);
        Assert.Equal("Journal has 1 line(s) that are not entries (left in place for audit); 2 entries in 1 file(s).", lines[1]);
        Assert.Equal(2, JournalCheck.BadLines);
        Assert.Equal(0, JournalCheck.Clean);
    }

    [Fact]
    public void A_missing_segment_reads_as_empty_and_a_missing_journal_has_no_files()
    {
        Assert.Same(JournalReadResult.Empty, ElectronicJournal.ReadSegment(Path.Combine(_directory.FullName, "none.log")));
        Assert.Empty(ElectronicJournal.Segments(Path.Combine(_directory.FullName, "none.log")));
        Assert.Empty(ElectronicJournal.Segments(Path.Combine(_directory.FullName, "missing", "none.log")));
        Assert.Empty(ElectronicJournal.ReadAll(Path.Combine(_directory.FullName, "none.log")).Files);
    }

    [Fact]
    public void Files_beside_the_journal_that_are_not_its_segments_are_not_read()
    {
        File.WriteAllText(Path.Combine(_directory.FullName, "journal-2026120-001.log"), "x\n");
        File.WriteAllText(Path.Combine(_directory.FullName, "journal-20261301-001.log"), "x\n");
        File.WriteAllText(Path.Combine(_directory.FullName, "journal-20261201x001.log"), "x\n");
        File.WriteAllText(Path.Combine(_directory.FullName, "journal-20261201-0a1.log"), "x\n");
        File.WriteAllText(Path.Combine(_directory.FullName, "journal-20261202-002.log"), "x\n");
        File.WriteAllText(Path.Combine(_directory.FullName, "journal-20261202-010.log"), "x\n");
        File.WriteAllText(Path.Combine(_directory.FullName, "journal-20261130-003.log"), "x\n");
        File.WriteAllText(JournalPath, "");

        Assert.Equal(
            ["journal-20261130-003.log", "journal-20261202-002.log", "journal-20261202-010.log", "journal.log"],
            ElectronicJournal.Segments(JournalPath).Select(Path.GetFileName));
    }

    public void Dispose() => _directory.Delete(recursive: true);
}
