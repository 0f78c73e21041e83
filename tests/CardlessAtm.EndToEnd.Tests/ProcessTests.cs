using CardlessAtm.Iso8583;
using CardlessAtm.Phone;
using CardlessAtm.Phone.Withdrawal;
using CardlessAtm.Terminal.Journal;

namespace CardlessAtm.EndToEnd.Tests;

/// <summary>
/// The withdrawal across real processes on loopback: the terminal is <c>cardless-atm terminal</c> started as
/// a process (console keypad and display, simulated dispenser whose memory survives the process), the host
/// runs on a real SQLite file. Each test ends with the reconciliation check: notes presented × value =
/// approved debits − reversals.
/// </summary>
[Collection("processes")]
public class ProcessTests
{
    [Fact]
    public async Task An_approved_withdrawal_across_processes_reconciles()
    {
        await using var network = await Network.StartAsync();
        var terminal = await network.StartTerminalAsync();
        var before = await network.BalanceAsync();

        var qr = await Network.ShowQrAsync(terminal, 80);
        var outcome = await network.WithdrawAsync(network.Phone(), qr);

        Assert.Equal(WithdrawalStatus.Approved, outcome.Status);
        Assert.Equal(before - 8_000, await network.BalanceAsync());
        await network.AssertReconciledAsync(terminal);
    }

    [Fact]
    public async Task A_terminal_killed_mid_dispense_is_recovered_and_the_rest_reversed()
    {
        await using var network = await Network.StartAsync();
        var terminal = await network.StartTerminalAsync(noteDelay: TimeSpan.FromMilliseconds(700));
        var before = await network.BalanceAsync();
        var qr = await Network.ShowQrAsync(terminal, 80); // three notes: 10 + 20 + 50

        var withdrawal = network.WithdrawAsync(network.Phone(), qr);
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60)))
        {
            while (Network.DevicePresentedNotes(terminal) < 1)
            {
                await Task.Delay(20, timeout.Token);
            }
        }

        terminal.Kill();
        var presentedBeforeCrash = Network.DevicePresentedNotes(terminal);
        var phoneOutcome = await withdrawal;
        Assert.NotEqual(WithdrawalStatus.Approved, phoneOutcome.Status);

        terminal.Restart(noteDelay: TimeSpan.Zero);
        await network.AssertReconciledAsync(terminal);

        var journal = ElectronicJournal.ReadAll(terminal.JournalPath);
        var recovered = Assert.Single(journal, e => e.Event == JournalEvents.Recovered);
        Assert.Equal("partial", Assert.IsType<Recovered>(recovered).Reversal);
        Assert.InRange(presentedBeforeCrash, 1, 2);
        var charged = before - await network.BalanceAsync();
        Assert.Equal(await Network.PresentedValueAsync(terminal), charged);
        Assert.InRange(charged, 1_000, 7_000);
    }

    [Fact]
    public async Task No_answer_from_the_host_after_it_approved_is_reversed()
    {
        await using var network = await Network.StartAsync();
        var released = new TaskCompletionSource();
        var first = 0;
        network.Host.Processor.AfterWithdrawalCommitted = async (_, _) =>
        {
            // The debit is committed; the answer is lost (the host stalls past the terminal's timeout).
            if (Interlocked.Exchange(ref first, 1) == 0)
            {
                await released.Task;
            }
        };
        var terminal = await network.StartTerminalAsync(hostTimeout: TimeSpan.FromSeconds(2));
        var before = await network.BalanceAsync();

        var qr = await Network.ShowQrAsync(terminal, 50);
        var outcome = await network.WithdrawAsync(network.Phone(), qr);
        released.SetResult();

        Assert.Equal(ResponseCodes.IssuerUnavailable, outcome.ResponseCode);
        await network.AssertReconciledAsync(terminal);
        Assert.Equal(before, await network.BalanceAsync());
        Assert.Contains(ElectronicJournal.ReadAll(terminal.JournalPath), e => e.Event == JournalEvents.ReversalAcknowledged);
    }

    [Fact]
    public async Task After_a_proxy_restart_the_atm_reconnects_and_the_next_withdrawal_works()
    {
        await using var network = await Network.StartAsync();
        var terminal = await network.StartTerminalAsync();
        var qr = await Network.ShowQrAsync(terminal, 20);
        Assert.Equal(WithdrawalStatus.Approved, (await network.WithdrawAsync(network.Phone(), qr)).Status);

        await network.RestartProxyAsync();
        await network.WaitUntilAtmOnlineAsync();

        qr = await Network.ShowQrAsync(terminal, 30);
        Assert.Equal(WithdrawalStatus.Approved, (await network.WithdrawAsync(network.Phone(), qr)).Status);
        await network.AssertReconciledAsync(terminal);
    }

    [Fact]
    public async Task A_tampered_or_replayed_request_never_dispenses_twice()
    {
        await using var network = await Network.StartAsync();
        var terminal = await network.StartTerminalAsync();
        var before = await network.BalanceAsync();
        var qr = await Network.ShowQrAsync(terminal, 20);

        // The phone cannot check the ATM's MAC; the ATM refuses a payload that is not the one on its screen.
        var tampered = qr[..^1] + (qr[^1] == 'A' ? 'B' : 'A');
        try
        {
            Assert.NotEqual(WithdrawalStatus.Approved, (await network.WithdrawAsync(network.Phone(), tampered)).Status);
        }
        catch (PhoneInputException e)
        {
            Assert.Contains(e.Error, new[] { PhoneInputError.NotOurQr, PhoneInputError.InvalidQrPayload });
        }

        var first = await network.WithdrawAsync(network.Phone(), qr);
        var second = await network.WithdrawAsync(network.Phone(1), qr);

        Assert.Equal(WithdrawalStatus.Approved, first.Status);
        Assert.NotEqual(WithdrawalStatus.Approved, second.Status);
        Assert.Equal(before - 2_000, await network.BalanceAsync());
        await network.AssertReconciledAsync(terminal);
    }
}

[CollectionDefinition("processes", DisableParallelization = true)]
public sealed class ProcessTestGroup;
