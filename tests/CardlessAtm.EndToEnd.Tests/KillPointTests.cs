using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Phone;
using CardlessAtm.Terminal.Journal;

namespace CardlessAtm.EndToEnd.Tests;

/// <summary>
/// A real terminal process SIGKILLs itself right after each journal point where money state changes
/// (CARDLESSATM_KILL_AFTER), is started again, and the ledger must balance: cash presented = debits − reversals,
/// the SAF queue empty, and the customer charged exactly what was presented. docs/operations.md §6 lists the points.
/// </summary>
[Collection("processes")]
public class KillPointTests
{
    [Theory]
    [InlineData(JournalEvents.AuthoriseRequest, false)]   // before the 0200 left: the host never saw it
    [InlineData(JournalEvents.AuthoriseAnswer, false)]    // approved and debited, nothing dispensed
    [InlineData(JournalEvents.DispenseStart, false)]      // the notes about to move
    [InlineData(JournalEvents.DispenseEnd, false)]        // all notes presented, the phone not yet answered
    [InlineData(JournalEvents.PresentStart, false)]       // the notes wait at the exit: retracted at restart, reversed (18)
    [InlineData(JournalEvents.WithdrawalEnd, false)]      // finished: nothing to settle
    [InlineData(JournalEvents.DispenseEnd, true)]         // a jam: the reversal file is the next thing written
    [InlineData(JournalEvents.ReversalQueued, true)]      // the reversal on disk, never sent
    [InlineData(JournalEvents.ReversalAcknowledged, true)] // the host applied it; the file is not yet deleted
    public async Task Killed_right_after_a_journal_point_the_ledger_balances_after_restart(string killAfter, bool jam)
    {
        await using var network = await Network.StartAsync();
        var terminal = await network.StartTerminalAsync(jamAfterNotes: jam ? 2 : null, killAfter: killAfter);
        var before = await network.BalanceAsync();
        var qr = await Network.ShowQrAsync(terminal, 80); // 10 + 20 + 50; with the jam only 10 + 20 are presented

        try
        {
            await network.WithdrawAsync(network.Phone(), qr);
        }
        catch (PhoneInputException)
        {
            // The ATM died before it answered: the phone reports the link failure; the money is settled at restart.
        }

        await terminal.WaitForExitAsync(TimeSpan.FromSeconds(60));
        terminal.Restart(clearFaults: true);
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60)))
        {
            // Recovery runs before the terminal dials out: once it is online again, it has settled what was open.
            while (ElectronicJournal.ReadAll(terminal.JournalPath).Count(e => e.Event == JournalEvents.Started) < 2)
            {
                await Task.Delay(50, timeout.Token);
            }
        }

        await network.WaitUntilAtmOnlineAsync();
        await network.AssertReconciledAsync(terminal);

        var presented = await Network.PresentedValueAsync(terminal);
        Assert.Equal(presented, before - await network.BalanceAsync());
        var expected = killAfter switch
        {
            JournalEvents.AuthoriseRequest or JournalEvents.AuthoriseAnswer or JournalEvents.DispenseStart or JournalEvents.PresentStart => 0,
            _ => jam ? 3_000 : 8_000,
        };
        Assert.Equal(expected, presented);

        // It really died at that point: the entry is the last of the first run, and the restart settled what was open.
        var journal = ElectronicJournal.ReadAll(terminal.JournalPath);
        var restart = journal.Select((e, i) => (e, i)).Last(x => x.e.Event == JournalEvents.Started).i;
        Assert.Equal(killAfter, journal[restart - 1].Event);
        if (killAfter != JournalEvents.ReversalAcknowledged) // the acknowledgement may come before or after withdrawal-end
        {
            Assert.Equal(killAfter != JournalEvents.WithdrawalEnd, journal.Skip(restart).Any(e => e.Event == JournalEvents.Recovered));
        }
    }

    [Fact]
    public async Task Killed_right_after_the_retract_was_journalled_the_restart_reverses_the_retracted_notes_once()
    {
        await using var network = await Network.StartAsync();
        var terminal = await network.StartTerminalAsync(killAfter: JournalEvents.NotesRetracted, notesNotTaken: true);
        var before = await network.BalanceAsync();
        var qr = await Network.ShowQrAsync(terminal, 80); // 10 + 20 + 50, left at the exit and retracted after 1 s

        try
        {
            await network.WithdrawAsync(network.Phone(), qr);
        }
        catch (PhoneInputException)
        {
            // The ATM may die before it answers the phone; the money is settled at restart.
        }

        await terminal.WaitForExitAsync(TimeSpan.FromSeconds(60));
        var firstRun = ElectronicJournal.ReadAll(terminal.JournalPath);
        Assert.Equal(JournalEvents.NotesRetracted, firstRun[^1].Event); // it died right there: no reversal file, no reversal-queued
        Assert.DoesNotContain(firstRun, e => e.Event == JournalEvents.ReversalQueued);
        Assert.Empty(SafFiles(terminal));

        terminal.Restart(clearFaults: true);
        await network.WaitUntilAtmOnlineAsync();
        await network.AssertReconciledAsync(terminal); // presented = debits − reversals, SAF queue empty, ledger consistent

        Assert.Equal(0, await Network.PresentedValueAsync(terminal));
        Assert.Equal(before, await network.BalanceAsync()); // charged nothing: the 80.00 debited was reversed
        var totals = await network.Host.Administration.GetLedgerTotalsAsync();
        Assert.Equal(8_000, totals.ApprovedWithdrawalsMinor);
        Assert.Equal(8_000, totals.ReversalsMinor);
        var day = Assert.Single(await network.Host.Administration.GetDayReportAsync());
        Assert.Equal(1, day.ReversedCount);
        Assert.Equal(8_000, day.ReversedMinor);
        Assert.Equal(0, day.SuspectMinor);

        // Exactly one reversal, of the retracted value with reason 18, queued by the restart from the journalled retract
        // (never a second retract); the retract bin holds the three notes, counted per cassette.
        var journal = ElectronicJournal.ReadAll(terminal.JournalPath);
        var queued = Assert.Single(journal.OfType<ReversalQueued>());
        Assert.Equal(8_000, queued.Amount.AmountMinor);
        Assert.Equal("18", queued.ReasonCode);
        Assert.Single(journal, e => e.Event == JournalEvents.NotesRetracted);
        Assert.Contains(journal, e => e.Event == JournalEvents.Recovered);
        var units = (await new JsonFileCashUnitStore(terminal.CashUnitsPath).LoadAsync(CancellationToken.None))!;
        Assert.Equal(3, units.Sum(u => u.Counters.Retracted));
        Assert.Equal(8_000, units.Sum(u => u.RetractedValue.MinorUnits));
        Assert.Equal([1, 1, 1, 0], units.OrderBy(u => u.Position).Select(u => u.Counters.Retracted));
        Assert.Equal([499, 499, 499, 500], units.OrderBy(u => u.Position).Select(u => u.Count));
        Assert.Empty(SafFiles(terminal));
    }

    private static string[] SafFiles(TerminalProcess terminal)
    {
        var saf = Path.Combine(terminal.DataDirectory, "data", "saf");
        return Directory.Exists(saf) ? Directory.GetFiles(saf, "*.json") : [];
    }
}
