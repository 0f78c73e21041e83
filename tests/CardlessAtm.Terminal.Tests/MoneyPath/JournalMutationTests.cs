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

    private static Dictionary<string, string> Asked(string amount = "8000") => new() { ["amount"] = amount, ["currency"] = "978", ["transmission"] = "1201100000", ["rrn"] = "r" };

    [Fact]
    public async Task Entries_are_numbered_from_1_and_a_reopened_journal_continues_the_numbering()
    {
        using (var journal = Open())
        {
            Assert.Equal(1, (await journal.WriteAsync(JournalEvents.Started)).Sequence);
            var second = await journal.WriteAsync(JournalEvents.AuthoriseRequest, "s", 5, Asked());
            Assert.Equal((2L, _time.GetUtcNow(), "s", (int?)5), (second.Sequence, second.At, second.Session, second.Stan));
        }

        using var reopened = Open();
        Assert.Equal(3, (await reopened.WriteAsync(JournalEvents.Started)).Sequence);
        var all = reopened.ReadAllEntries();
        Assert.Equal([1L, 2L, 3L], all.Select(e => e.Sequence));
        Assert.Equal("8000", all[1]["amount"]);
        Assert.Null(all[1]["missing"]);
        Assert.Null(all[0]["amount"]);
    }

    [Fact]
    public async Task Only_withdrawals_asked_and_not_finished_are_read_for_recovery_even_after_a_restart()
    {
        using (var journal = Open())
        {
            await journal.WriteAsync(JournalEvents.AuthoriseRequest, "open", 1, Asked());
            await journal.WriteAsync(JournalEvents.AuthoriseRequest, "ended", 2, Asked());
            await journal.WriteAsync(JournalEvents.WithdrawalEnd, "ended", null);
            await journal.WriteAsync(JournalEvents.AuthoriseRequest, "recovered", 3, Asked());
            await journal.WriteAsync(JournalEvents.Recovered, "recovered", 3);
            await journal.WriteAsync(JournalEvents.QrShown, "never-asked", null);
            await journal.WriteAsync(JournalEvents.AuthoriseAnswer, "open", 1, new Dictionary<string, string> { ["response"] = "00" });
            await journal.WriteAsync(JournalEvents.Started);
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
        await journal.WriteAsync(JournalEvents.AuthoriseRequest, "s", 1, Asked());
        await journal.WriteAsync(JournalEvents.WithdrawalEnd, "s", null);

        Assert.Empty(journal.ReadUnfinished());
    }

    [Fact]
    public async Task A_segment_closes_before_it_would_exceed_its_size_and_its_successor_records_the_open_withdrawals()
    {
        var options = new JournalOptions { MaxSegmentBytes = 600 };
        using var journal = Open(options);
        await journal.WriteAsync(JournalEvents.AuthoriseRequest, "a", 1, Asked());
        await journal.WriteAsync(JournalEvents.AuthoriseRequest, "b", 2, Asked());
        while (ElectronicJournal.Segments(JournalPath).Count == 1)
        {
            await journal.WriteAsync(JournalEvents.Sensor, null, null, new Dictionary<string, string> { ["name"] = "Door", ["state"] = "Normal" });
        }

        var closed = ElectronicJournal.Segments(JournalPath)[0];
        Assert.Equal(Path.Combine(_directory.FullName, "journal-20261201-001.log"), closed);
        Assert.True(new FileInfo(closed).Length <= 600);
        var header = ElectronicJournal.ReadSegment(JournalPath)[0];
        Assert.Equal(JournalEvents.SegmentStarted, header.Event);
        Assert.Equal(("journal-20261201-001.log", "a@1 b@2"), (header["previous"], header["open"]));
        Assert.Equal(ElectronicJournal.ReadSegment(closed)[^1].Sequence + 1, header.Sequence);
        Assert.Equal(header.Sequence + 1, ElectronicJournal.ReadSegment(JournalPath)[1].Sequence); // the entry that did not fit
        var next = await journal.WriteAsync(JournalEvents.Started);
        Assert.Equal(header.Sequence + 2, next.Sequence);

        await journal.WriteAsync(JournalEvents.WithdrawalEnd, "a", null);
        await journal.WriteAsync(JournalEvents.WithdrawalEnd, "b", null);
        while (ElectronicJournal.Segments(JournalPath).Count == 2)
        {
            await journal.WriteAsync(JournalEvents.Sensor, null, null, new Dictionary<string, string> { ["name"] = "Door", ["state"] = "Normal" });
        }

        Assert.Equal(Path.Combine(_directory.FullName, "journal-20261201-002.log"), ElectronicJournal.Segments(JournalPath)[1]);
        Assert.Equal("-", ElectronicJournal.ReadSegment(JournalPath)[0]["open"]);
    }

    [Fact]
    public async Task A_new_utc_day_starts_a_new_segment_named_after_the_closed_day()
    {
        using (var journal = Open())
        {
            await journal.WriteAsync(JournalEvents.Started);
            _time.Advance(TimeSpan.FromHours(13)); // 23:00 the same day
            await journal.WriteAsync(JournalEvents.Started);
            Assert.Single(ElectronicJournal.Segments(JournalPath));
            _time.Advance(TimeSpan.FromHours(2)); // 01:00 the next day
            await journal.WriteAsync(JournalEvents.Started);
        }

        Assert.Equal([Path.Combine(_directory.FullName, "journal-20261201-001.log"), JournalPath], ElectronicJournal.Segments(JournalPath));
        Assert.Equal([JournalEvents.SegmentStarted, JournalEvents.Started], ElectronicJournal.ReadSegment(JournalPath).Select(e => e.Event));

        using var reopened = Open(); // the current segment's day is read back: no second rotation today
        await reopened.WriteAsync(JournalEvents.Started);
        Assert.Equal(2, ElectronicJournal.Segments(JournalPath).Count);
    }

    [Fact]
    public async Task Recovery_reads_back_only_to_the_segment_where_the_oldest_open_withdrawal_began()
    {
        var options = new JournalOptions { MaxSegmentBytes = 400 };
        using var journal = Open(options);
        for (var i = 0; i < 30; i++)
        {
            await journal.WriteAsync(JournalEvents.Sensor, null, null, new Dictionary<string, string> { ["name"] = "Door", ["state"] = "Normal" });
        }

        var before = ElectronicJournal.Segments(JournalPath).Count;
        await journal.WriteAsync(JournalEvents.AuthoriseRequest, "late", 9, Asked());
        var began = ElectronicJournal.Segments(JournalPath).Count;
        for (var i = 0; i < 30; i++)
        {
            await journal.WriteAsync(JournalEvents.Sensor, null, null, new Dictionary<string, string> { ["name"] = "Door", ["state"] = "Normal" });
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
            await journal.WriteAsync(JournalEvents.Started); // day 1: closed, nothing open
            _time.Advance(TimeSpan.FromDays(1));
            await journal.WriteAsync(JournalEvents.AuthoriseRequest, "open", 1, Asked()); // day 2: open withdrawal
            _time.Advance(TimeSpan.FromDays(1));
            await journal.WriteAsync(JournalEvents.Started); // day 3
            _time.Advance(TimeSpan.FromDays(1));
            await journal.WriteAsync(JournalEvents.Started); // day 4
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
            await journal.WriteAsync(JournalEvents.Started);
            _time.Advance(TimeSpan.FromDays(1));
            await journal.WriteAsync(JournalEvents.Started);
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
        await journal.CountAsync(JournalEvents.RequestsUnmatched, "b");
        _time.Advance(TimeSpan.FromSeconds(30));
        await journal.CountAsync(JournalEvents.RequestsUnmatched, "a");
        await journal.CountAsync(JournalEvents.RequestsUnmatched, "b");
        _time.Advance(TimeSpan.FromSeconds(29));
        await journal.WriteAsync(JournalEvents.Sensor);
        Assert.DoesNotContain(journal.ReadAllEntries(), e => e.Event == JournalEvents.RequestsUnmatched);

        _time.Advance(TimeSpan.FromSeconds(1)); // exactly one interval after the first count
        await journal.WriteAsync(JournalEvents.Started);

        var entries = journal.ReadAllEntries();
        Assert.Equal([JournalEvents.Sensor, JournalEvents.RequestsUnmatched, JournalEvents.Started], entries.Select(e => e.Event));
        var summary = entries[1];
        Assert.Equal(("3", "1", "2"), (summary["total"], summary["a"], summary["b"]));
        Assert.Equal((first.ToString("O", System.Globalization.CultureInfo.InvariantCulture), first.AddSeconds(30).ToString("O", System.Globalization.CultureInfo.InvariantCulture)), (summary["from"], summary["to"]));
        Assert.Equal(["from", "to", "total", "a", "b"], summary.Data!.Keys);
        Assert.Equal((2L, 3L), (summary.Sequence, entries[2].Sequence));

        await journal.CountAsync(JournalEvents.RequestsUnmatched, "c");
        await journal.FlushSummariesAsync();
        Assert.Equal("1", journal.ReadAllEntries()[^1]["total"]);
        await journal.FlushSummariesAsync();
        Assert.Equal(4, journal.ReadAllEntries().Count);
    }

    [Fact]
    public async Task A_count_after_the_interval_writes_the_summary_itself_and_starts_a_new_one()
    {
        var written = new List<string>();
        using var journal = new ElectronicJournal(JournalPath, _time) { SummaryInterval = TimeSpan.FromMinutes(1) };
        journal.Written += e => written.Add(e.Event);
        await journal.CountAsync(JournalEvents.RequestsUnmatched, "a");
        _time.Advance(TimeSpan.FromMinutes(2));

        await journal.CountAsync(JournalEvents.RequestsUnmatched, "a");

        Assert.Equal([JournalEvents.RequestsUnmatched], written);
        Assert.Equal("1", journal.ReadAllEntries()[0]["total"]);
        journal.Dispose();
        Assert.Equal(2, ElectronicJournal.ReadAll(JournalPath).Count);
    }

    [Fact]
    public async Task Closing_writes_what_is_still_counted()
    {
        var journal = new ElectronicJournal(JournalPath, _time);
        await journal.CountAsync(JournalEvents.RequestsUnmatched, "k");
        journal.Dispose();
        journal.Dispose(); // twice is harmless

        var summary = Assert.Single(ElectronicJournal.ReadAll(JournalPath));
        Assert.Equal(("1", "1"), (summary["total"], summary["k"]));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => journal.WriteAsync(JournalEvents.Started));
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
            Assert.Equal(2, (await journal.WriteAsync(JournalEvents.Started)).Sequence);
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
            await journal.WriteAsync(JournalEvents.Started);
        }

        using (var journal = Open())
        {
            await journal.WriteAsync(JournalEvents.Started);
        }

        Assert.Equal(2, File.ReadAllLines(JournalPath).Length);
    }

    [Fact]
    public async Task The_startup_read_for_recovery_reports_the_bad_lines_met_when_opening()
    {
        File.WriteAllText(JournalPath, "garbage\n");
        using var journal = Open();
        await journal.WriteAsync(JournalEvents.AuthoriseRequest, "s", 1, Asked());

        var unfinished = journal.ReadUnfinished();

        var skipped = Assert.Single(unfinished.Skipped);
        Assert.Equal((JournalPath, 1), (skipped.Path, skipped.LineNumber));
        Assert.Single(unfinished);
    }

    [Fact]
    public async Task The_export_is_one_readable_line_per_entry()
    {
        using var journal = Open();
        await journal.WriteAsync(JournalEvents.AuthoriseRequest, "s-1", 42, new Dictionary<string, string> { ["amount"] = "8000", ["currency"] = "978" });
        await journal.WriteAsync(JournalEvents.Started);

        var text = ElectronicJournal.Export(journal.ReadAllEntries());

        Assert.Equal(
            "     1 2026-12-01 10:00:00.000 authorise-request      session=s-1 stan=000042 amount=8000 currency=978" + Environment.NewLine
            + "     2 2026-12-01 10:00:00.000 terminal-started      " + Environment.NewLine,
            text);
    }

    [Fact]
    public async Task The_check_lists_each_bad_line_and_exits_2_or_reports_clean_with_0()
    {
        using (var journal = Open())
        {
            await journal.WriteAsync(JournalEvents.Started);
            await journal.WriteAsync(JournalEvents.Started);
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
