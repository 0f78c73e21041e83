using CardlessAtm.Host.Seeding;
using CardlessAtm.Phone.Withdrawal;
using CardlessAtm.Terminal.Journal;

namespace CardlessAtm.EndToEnd.Tests;

/// <summary>
/// Issue 13 item 2: SIGTERM (systemd's stop) on a real <c>cardless-atm terminal</c> process signs off at the host
/// with a MACed 0800/002 and exits 0 — after the withdrawal in flight has finished and been journalled.
/// </summary>
[Collection("processes")]
public class StopProcessTests
{
    [Fact]
    public async Task Sigterm_signs_the_terminal_off_at_the_host_and_exits_0()
    {
        await using var network = await Network.StartAsync();
        var terminal = await network.StartTerminalAsync(verbose: true);
        await OperationsProcessTests.WaitForAsync(terminal, l => l.Contains("Signed on to the host", StringComparison.Ordinal)); // a stop during sign-on has nothing to sign off

        var exit = await terminal.TerminateAsync(TimeSpan.FromSeconds(60));

        var log = string.Join('\n', terminal.Output);
        Assert.True(exit == 0, $"exit {exit}:\n{log}");
        Assert.True(log.Contains("terminal: signed off at the host", StringComparison.Ordinal), log);
        Assert.Contains("terminal: stopped", log, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", log, StringComparison.Ordinal);
        await AssertSignedOffAtHostAsync(network);
    }

    [Fact]
    public async Task Sigterm_mid_dispense_lets_the_dispense_finish_and_be_journalled_then_signs_off_and_exits_0()
    {
        await using var network = await Network.StartAsync();

        // Three notes (10 + 20 + 50), 1.5 s each: the stop arrives after the first note, well before the last.
        var terminal = await network.StartTerminalAsync(noteDelay: TimeSpan.FromMilliseconds(1500), verbose: true);
        var before = await network.BalanceAsync();
        var qr = await Network.ShowQrAsync(terminal, 80);

        var withdrawal = network.WithdrawAsync(network.Phone(), qr);
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60)))
        {
            while (Network.DevicePresentedNotes(terminal) < 1)
            {
                await Task.Delay(20, timeout.Token);
            }
        }

        var exit = await terminal.TerminateAsync(TimeSpan.FromSeconds(90));
        var log = string.Join('\n', terminal.Output);
        Assert.True(exit == 0, $"exit {exit}:\n{log}");
        Assert.True(log.Contains("terminal: signed off at the host", StringComparison.Ordinal), log);
        Assert.DoesNotContain("   at ", log, StringComparison.Ordinal);

        // Drained: all three notes out, the debit stands, the customer was answered, and the journal closed the withdrawal.
        var outcome = await withdrawal;
        Assert.Equal(WithdrawalStatus.Approved, outcome.Status);
        Assert.Equal(3, Network.DevicePresentedNotes(terminal));
        Assert.Equal(8_000, await Network.PresentedValueAsync(terminal));
        Assert.Equal(before - 8_000, await network.BalanceAsync());
        var journal = ElectronicJournal.ReadAll(terminal.JournalPath);
        Assert.Contains(journal, e => e.Event == JournalEvents.DispenseEnd);
        Assert.Contains(journal, e => e.Event == JournalEvents.WithdrawalEnd);
        Assert.DoesNotContain(journal, e => e.Event == JournalEvents.ReversalQueued);
        await network.AssertReconciledAsync(terminal);
        await AssertSignedOffAtHostAsync(network);
    }

    [Fact]
    public async Task Sigterm_with_a_dispense_longer_than_the_stop_bound_leaves_it_to_recovery_and_the_ledger_balances_after_restart()
    {
        await using var network = await Network.StartAsync();

        // 4 s per note, a 2 s stop bound: the stop cannot wait for the dispense.
        var terminal = await network.StartTerminalAsync(noteDelay: TimeSpan.FromSeconds(4), verbose: true, stopTimeout: TimeSpan.FromSeconds(2));
        var before = await network.BalanceAsync();
        var qr = await Network.ShowQrAsync(terminal, 80);
        var withdrawal = network.WithdrawAsync(network.Phone(), qr);
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60)))
        {
            while (!terminal.Output.Any(l => l.Contains("Dispensing", StringComparison.Ordinal)))
            {
                await Task.Delay(20, timeout.Token);
            }
        }

        var exit = await terminal.TerminateAsync(TimeSpan.FromSeconds(60));
        var log = string.Join('\n', terminal.Output);
        Assert.True(exit == 1, $"exit {exit}:\n{log}");
        Assert.Contains("terminal: stopped with a withdrawal unfinished", log, StringComparison.Ordinal);
        Assert.True(log.Contains("terminal: signed off at the host", StringComparison.Ordinal), log);
        Assert.DoesNotContain("   at ", log, StringComparison.Ordinal);
        try
        {
            await withdrawal;
        }
        catch (CardlessAtm.Phone.PhoneInputException)
        {
            // The ATM stopped before it answered; the money is settled at the restart.
        }

        // As after a crash: the restart recovers the dispense from the device's memory and reverses what did not come out.
        terminal.Restart(noteDelay: TimeSpan.Zero);
        await network.WaitUntilAtmOnlineAsync();
        await network.AssertReconciledAsync(terminal);
        var presented = await Network.PresentedValueAsync(terminal);
        Assert.Equal(presented, before - await network.BalanceAsync());
        var journal = ElectronicJournal.ReadAll(terminal.JournalPath);
        Assert.True(journal.Any(e => e.Event == JournalEvents.Recovered) || journal.Any(e => e.Event == JournalEvents.DispenseEnd), "the dispense was settled neither by the first run nor by recovery");
        Assert.Equal(0, Directory.Exists(Path.Combine(terminal.DataDirectory, "data", "saf")) ? Directory.GetFiles(Path.Combine(terminal.DataDirectory, "data", "saf"), "*.json").Length : 0);
    }

    private static async Task AssertSignedOffAtHostAsync(Network network)
    {
        var audit = await network.Host.Administration.GetRecentAuditAsync(200);
        Assert.Contains(audit, a => a.Event == "atm.sign-off" && a.AtmId == DemoSeed.AtmId);
        var atm = Assert.Single(await network.Host.Administration.ListAtmsAsync(), a => a.AtmId == DemoSeed.AtmId);
        Assert.False(atm.SignedOn);
    }
}
