using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Devices.Sensors;
using CardlessAtm.Host.Seeding;
using CardlessAtm.Host.Storage;
using CardlessAtm.Iso8583;
using CardlessAtm.Network;
using CardlessAtm.Terminal.Flow;
using CardlessAtm.Terminal.Journal;
using CardlessAtm.Terminal.StoreAndForward;

namespace CardlessAtm.Terminal.Tests;

/// <summary>The money path's faults against the real host on SQLite: balances, queue and cash, not log lines.</summary>
public class MoneyPathLabTests
{
    [Fact]
    public async Task A_reversal_the_host_refuses_while_the_atm_is_blocked_stays_queued_until_an_operator_retries_it()
    {
        await using var lab = await Lab.StartAsync();
        var before = await lab.BalanceAsync();
        lab.Dispenser.Faults.JamAfterNotes = 2; // 10 + 20 presented, the 50 jams
        lab.Terminal.Journal.Written += e =>
        {
            if (e.Event == JournalEvents.DispenseStart)
            {
                lab.Host.Administration.SetAtmStatusAsync(DemoSeed.AtmId, AtmStatus.Blocked).GetAwaiter().GetResult();
            }
        };
        var qr = await lab.ShowQrAsync(80);

        var reply = await lab.SendAsync(lab.PhoneRequest(qr));
        await lab.WaitUntilAsync(() => lab.Terminal.Reversals.Store.ReadAll().Reversals.Any(r => r.LastResponse == ResponseCodes.InvalidTransaction));

        Assert.Equal(ResponseCodes.Approved, reply.ResponseCode);
        Assert.Equal(3_000, reply.ReplacementAmountMinor);
        var kept = Assert.Single(lab.Terminal.Reversals.Store.Pending);
        Assert.Equal(ReversalStatus.NeedsOperator, kept.Status);
        Assert.Equal(3_000, kept.DispensedMinor);
        Assert.Equal(before - 8_000, await lab.BalanceAsync()); // still charged in full: the reversal is owed
        Assert.Equal(1, lab.Terminal.Reversals.StuckCount);

        await lab.Host.Administration.SetAtmStatusAsync(DemoSeed.AtmId, AtmStatus.Active);
        Assert.True(ReversalForwarder.RequestRetry(lab.Terminal.Reversals.Store, kept.Id, lab.Time));
        await lab.WaitForReversalsDeliveredAsync();

        Assert.Equal(before - 3_000, await lab.BalanceAsync());
        Assert.Equal(2, lab.Dispenser.PresentedTotal);
        Assert.Equal(0, lab.Terminal.Reversals.StuckCount);
    }

    [Fact]
    public async Task A_cassette_pulled_while_the_host_decides_refunds_the_customer_and_the_atm_serves_the_next_one()
    {
        await using var lab = await Lab.StartAsync();
        var before = await lab.BalanceAsync();
        lab.Terminal.Journal.Written += e =>
        {
            if (e is AuthoriseRequested { Amount.AmountMinor: 8_000 })
            {
                lab.Sensors.Set("Cassette3", SensorState.Alert);
            }
        };
        var qr = await lab.ShowQrAsync(80);

        var reply = await lab.SendAsync(lab.PhoneRequest(qr));
        await lab.WaitForReversalsDeliveredAsync();

        Assert.Equal(ResponseCodes.SystemMalfunction, reply.ResponseCode);
        Assert.Equal(0, lab.Dispenser.PresentedTotal);
        Assert.Equal(before, await lab.BalanceAsync());
        Assert.Equal(0, lab.Terminal.Reversals.Store.Depth);

        lab.Sensors.Set("Cassette3", SensorState.Normal);
        var next = await lab.ShowQrAsync(30);
        Assert.Equal(ResponseCodes.Approved, (await lab.SendAsync(lab.PhoneRequest(next))).ResponseCode);
        Assert.Equal(before - 3_000, await lab.BalanceAsync());
    }

    [Fact]
    public async Task Notes_not_taken_are_retracted_into_the_retract_bin_and_the_host_credits_the_customer_in_full()
    {
        await using var lab = await Lab.StartAsync();
        var before = await lab.BalanceAsync();
        lab.Dispenser.Faults.NotesNotTaken = true;

        var reply = await WithdrawWhileTheClockRunsAsync(lab, 80);
        await lab.WaitForReversalsDeliveredAsync();

        Assert.Equal(ResponseCodes.SystemMalfunction, reply.ResponseCode);
        Assert.Equal(before, await lab.BalanceAsync());
        var report = Assert.Single(await lab.Host.Administration.GetDayReportAsync());
        Assert.Equal((1, 8_000L, 1, 8_000L, 0L), (report.ApprovedCount, report.ApprovedMinor, report.ReversedCount, report.ReversedMinor, report.SuspectMinor));
        Assert.True((await lab.Host.Administration.GetLedgerTotalsAsync()).Balances);
        Assert.Equal((3, 0), (lab.Dispenser.RetractBin, lab.Dispenser.NotesAtExit));
        Assert.All(lab.Terminal.Devices.Dispenser.CashUnits, u => Assert.Equal((0, 1), (u.Counters.Presented, u.Counters.Retracted)));
        Assert.Contains(lab.Journal(), e => e is ReversalQueued { ReasonCode: ReversalReasons.NotesRetracted, Dispensed.AmountMinor: 0 });
    }

    [Fact]
    public async Task An_uncounted_retract_credits_the_customer_and_the_host_marks_the_amount_suspect_for_the_cash_count()
    {
        await using var lab = await Lab.StartAsync(presenting: new PresentCapability(DetectsTaken: true, CanRetract: true, CountsRetracted: false));
        var before = await lab.BalanceAsync();
        lab.Dispenser.Faults.NotesNotTaken = true;

        await WithdrawWhileTheClockRunsAsync(lab, 80);
        await lab.WaitForReversalsDeliveredAsync();

        Assert.Equal(before, await lab.BalanceAsync());
        var report = Assert.Single(await lab.Host.Administration.GetDayReportAsync());
        Assert.Equal((8_000L, 1, 8_000L), (report.ReversedMinor, report.SuspectCount, report.SuspectMinor));
        Assert.All(lab.Terminal.Devices.Dispenser.CashUnits.Where(u => u.Counters.Unknown > 0), u => Assert.Equal((0, 0, 1), (u.Counters.Presented, u.Counters.Retracted, u.Counters.Unknown)));
        Assert.Equal(3, lab.Terminal.Devices.Dispenser.CashUnits.Sum(u => u.Counters.Unknown));
    }

    /// <summary>A withdrawal whose notes wait at the exit: the fake clock runs only once they do, past the present timeout.</summary>
    private static async Task<Iso8583.IsoMessage> WithdrawWhileTheClockRunsAsync(Lab lab, int amountMajor)
    {
        var presenting = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lab.Terminal.Journal.Written += e =>
        {
            if (e is PresentStarted)
            {
                presenting.TrySetResult();
            }
        };
        var qr = await lab.ShowQrAsync(amountMajor);
        var reply = lab.SendAsync(lab.PhoneRequest(qr));
        await presenting.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await lab.WaitUntilAsync(() => reply.IsCompleted);
        return await reply;
    }
}

/// <summary>Files the terminal cannot trust stop it serving, with the path, instead of being guessed around.</summary>
public class UntrustedFileTests
{
    [Fact]
    public async Task An_unreadable_reversal_file_takes_the_atm_out_of_service_naming_the_file_and_keeps_it()
    {
        string? corrupt = null;
        await using var lab = await Lab.StartAsync(prepareDataDirectory: data =>
        {
            Directory.CreateDirectory(Path.Combine(data, "saf"));
            corrupt = Path.Combine(data, "saf", "000042-1201100000.json");
            File.WriteAllText(corrupt, "{ \"Id\": \"000042-12011");
        });

        await lab.WaitForStateAsync(TerminalState.OutOfService);

        Assert.Contains(corrupt!, lab.Flow.OutOfServiceReason, StringComparison.Ordinal);
        Assert.True(File.Exists(corrupt));
        Assert.Equal(1, lab.Terminal.Reversals.Store.Depth);
    }
}
