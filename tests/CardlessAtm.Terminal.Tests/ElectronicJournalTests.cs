using CardlessAtm.Terminal.Journal;
using Microsoft.Extensions.Time.Testing;

namespace CardlessAtm.Terminal.Tests;

/// <summary>The electronic journal on real temporary files, without a terminal.</summary>
public sealed class ElectronicJournalTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("cardless-atm-journal-");
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2025, 3, 1, 10, 0, 0, TimeSpan.Zero));

    private string JournalPath => Path.Combine(_directory.FullName, "journal.log");

    [Fact]
    public void Torn_and_corrupt_lines_anywhere_are_skipped_with_their_line_numbers_and_the_check_lists_them()
    {
        File.WriteAllText(JournalPath, string.Join('\n',
            JournalTests.Line(1, JournalEvents.Started),                           // 1
            JournalTests.Line(2, JournalEvents.AmountEntered),                     // 2
            """{"Sequence":3,"At":"2025-01-01T00:00:03+00:00","Ev""",              // 3: torn by a crash, then appended after
            JournalTests.Line(4, JournalEvents.Started),                           // 4
            "\0\0\0\0",                                                            // 5: zeros left by a power cut
            JournalTests.Line(6, JournalEvents.FaultCheck),                        // 6
            "{}",                                                                  // 7: JSON, but no entry
            """{"Sequence":8,"At":"2025-01-01T00:00:08+00:00","Event":"sen"""));   // 8: torn, still the last line
        var before = File.ReadAllBytes(JournalPath);

        var read = ElectronicJournal.ReadAll(JournalPath);
        using var output = new StringWriter();
        var exit = JournalCheck.Run(JournalPath, output);

        Assert.Equal([1L, 2, 4, 6], read.Select(e => e.Sequence));
        Assert.Equal([3, 5, 7, 8], read.Skipped.Select(s => s.LineNumber));
        Assert.All(read.Skipped, s => Assert.Equal(JournalPath, s.Path));
        Assert.Equal([false, false, false, true], read.Skipped.Select(s => s.Torn));
        Assert.Equal(JournalCheck.BadLines, exit);
        var printed = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith($"{JournalPath}:3: not valid JSON", printed[0], StringComparison.Ordinal);
        Assert.StartsWith($"{JournalPath}:5: not valid JSON", printed[1], StringComparison.Ordinal);
        Assert.StartsWith($"{JournalPath}:7: JSON but not a journal entry", printed[2], StringComparison.Ordinal);
        Assert.StartsWith($"{JournalPath}:8: torn", printed[3], StringComparison.Ordinal);
        Assert.StartsWith("Journal has 4 line(s)", printed[4], StringComparison.Ordinal);
        Assert.Equal(before, File.ReadAllBytes(JournalPath)); // the check changes nothing
    }

    [Fact]
    public async Task A_clean_journal_checks_clean()
    {
        using (var journal = new ElectronicJournal(JournalPath, _time))
        {
            await journal.WriteAsync(JournalSamples.Started());
        }

        using var output = new StringWriter();
        Assert.Equal(JournalCheck.Clean, JournalCheck.Run(JournalPath, output));
        Assert.StartsWith("Journal clean: 1 entries", output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_torn_last_line_survives_restart_after_restart_and_is_reported_once_per_run()
    {
        File.WriteAllText(JournalPath, JournalTests.Line(1, JournalEvents.Started) + "\n" + """{"Sequence":2,"At":"2025-01""");
        var reported = new List<SkippedJournalLine>();
        for (var start = 0; start < 3; start++)
        {
            using var journal = new ElectronicJournal(JournalPath, _time);
            journal.LineSkipped += reported.Add;
            await journal.WriteAsync(JournalSamples.Started());
            journal.ReadAllEntries();
            journal.ReadAllEntries();
        }

        var read = ElectronicJournal.ReadAll(JournalPath);
        // The torn line recorded nothing: its number is taken again (by the header of the segment the new UTC day opened).
        Assert.Equal([1L, 2, 3, 4, 5], read.Select(e => e.Sequence));
        var torn = Assert.Single(read.Skipped);
        Assert.Equal((Path.Combine(_directory.FullName, "journal-20250101-001.log"), 2), (torn.Path, torn.LineNumber));
        Assert.Equal(3, reported.Count); // once per start, not once per read
        Assert.All(reported, r => Assert.Equal(2, r.LineNumber));
    }

    [Fact]
    public async Task Counted_events_become_at_most_one_summary_per_interval_and_the_rest_is_written_on_close()
    {
        var journal = new ElectronicJournal(JournalPath, _time);
        await journal.CountAsync("12 no session on screen");
        _time.Advance(TimeSpan.FromSeconds(30));
        await journal.CountAsync("94 the session was already used");
        await journal.WriteAsync(JournalSamples.Started()); // the interval is not over: no summary yet
        _time.Advance(TimeSpan.FromSeconds(31));
        await journal.WriteAsync(new AmountEntered(new JournalAmount(2_000, "EUR"))); // now it is: the summary comes first
        await journal.CountAsync("12 no session on screen");
        journal.Dispose(); // stopping writes what is left

        var read = ElectronicJournal.ReadAll(JournalPath);
        Assert.Equal([JournalEvents.Started, JournalEvents.RequestsUnmatched, JournalEvents.AmountEntered, JournalEvents.RequestsUnmatched], read.Select(e => e.Event));
        var first = Assert.IsType<RequestsUnmatched>(read[1]);
        Assert.Equal(2, first.Total);
        Assert.Equal(1, first.Counts["12 no session on screen"]);
        Assert.Equal(1, first.Counts["94 the session was already used"]);
        Assert.Equal(_time.GetUtcNow().AddSeconds(-61), first.From);
        Assert.Equal(1, Assert.IsType<RequestsUnmatched>(read[3]).Total);
    }

    public void Dispose() => _directory.Delete(recursive: true);
}
