using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Iso8583;
using CardlessAtm.Terminal.Flow;
using CardlessAtm.Terminal.Journal;
using Microsoft.Extensions.Logging.Abstractions;

namespace CardlessAtm.Terminal.Tests.MoneyPath;

/// <summary>
/// The Presenting state's own decisions, each through a whole withdrawal on fake time: what the present entries record
/// (session, STAN, amount, timeout), why the notes count as taken when the retract finds an empty exit, fails or throws,
/// or the exit sensor throws, and the reason the ATM is taken out of service. Each test asserts the phone's code, the
/// reversal queue and the cash-unit counts as well.
/// </summary>
public class PresentStepMutationTests
{
    private const string Session = "session-1";
    private static readonly Money Eur80 = Money.FromMajor(80, "EUR");

    [Fact]
    public async Task The_present_entries_carry_the_withdrawals_session_stan_amount_and_timeout()
    {
        using var rig = await MoneyPathRig.CreateAsync(options => options.PresentTimeout = TimeSpan.FromSeconds(17));
        rig.Host.Answers(ResponseCodes.Approved);

        var settled = await rig.WithdrawAsync(); // the simulated customer takes the notes at once

        Assert.Equal((ResponseCodes.Approved, (Money?)Eur80), (settled.ResponseCode, settled.Presented));
        Assert.Empty(rig.Queue.Pending);
        var stan = rig.Entries().OfType<AuthoriseRequested>().Single().Stan;
        Assert.NotNull(stan);
        var started = Assert.Single(rig.Entries().OfType<PresentStarted>());
        Assert.Equal((Session, stan, new JournalAmount(8_000, "EUR"), TimeSpan.FromSeconds(17), true), (started.Session, started.Stan, started.Presented, started.Timeout, started.CanRetract));
        var taken = Assert.Single(rig.Entries().OfType<NotesTaken>());
        Assert.Equal((Session, stan, NotesTaken.ByCustomer), (taken.Session, taken.Stan, taken.How));
        Assert.True(started.Sequence < taken.Sequence);
    }

    [Fact]
    public async Task A_retract_that_finds_the_exit_empty_counts_the_notes_as_taken_by_the_customer_and_reverses_nothing()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        rig.Device.Faults.NotesNotTaken = true;
        var dispenser = new ExitScriptedDispenser(rig.Dispenser) { Retract = _ => Task.FromResult(new RetractResult(RetractCompletion.Ok, [], true)) };
        rig.Host.Answers(ResponseCodes.Approved);

        var (settled, unusable) = await WithdrawAsync(rig, dispenser);

        Assert.Equal((ResponseCodes.Approved, (Money?)Eur80, TerminalState.Done), (settled.ResponseCode, settled.Presented, settled.Final));
        Assert.Single(dispenser.Retracts);
        Assert.Empty(rig.Queue.Pending);
        Assert.All(rig.Dispenser.CashUnits, u => Assert.Equal((99, 1, 0, 0), (u.Count, u.Counters.Presented, u.Counters.Retracted, u.Counters.Unknown)));
        Assert.Null(unusable);
        Assert.DoesNotContain(rig.Entries(), e => e is NotesRetracted);
        var taken = Assert.Single(rig.Entries().OfType<NotesTaken>());
        Assert.Equal(("the exit was empty when the retract began: taken by the customer", Session), (taken.How, taken.Session));
    }

    [Theory]
    [InlineData("shutter jammed", "E42", "shutter jammed")]
    [InlineData(null, "E42", "E42")]
    [InlineData(null, null, "no detail")]
    public async Task A_failed_retract_names_its_detail_or_device_code_counts_the_notes_as_taken_and_takes_the_atm_out_of_service(string? detail, string? code, string named)
    {
        using var rig = await MoneyPathRig.CreateAsync();
        rig.Device.Faults.NotesNotTaken = true;
        var dispenser = new ExitScriptedDispenser(rig.Dispenser) { Retract = _ => Task.FromResult(new RetractResult(RetractCompletion.Failed, [], false, code, detail)) };
        rig.Host.Answers(ResponseCodes.Approved);

        var (settled, unusable) = await WithdrawAsync(rig, dispenser);

        Assert.Equal((ResponseCodes.Approved, (Money?)Eur80), (settled.ResponseCode, settled.Presented));
        Assert.Empty(rig.Queue.Pending);
        Assert.All(rig.Dispenser.CashUnits, u => Assert.Equal((99, 1, 0), (u.Count, u.Counters.Presented, u.Counters.Retracted)));
        Assert.Equal(3, rig.Device.NotesAtExit);
        Assert.Equal($"the dispenser could not retract notes left at the exit ({detail})", unusable);
        var taken = Assert.Single(rig.Entries().OfType<NotesTaken>());
        Assert.Equal($"the retract failed ({named}): the notes may still be at the exit, so they count as taken", taken.How);
    }

    [Fact]
    public async Task A_retract_that_throws_counts_the_notes_as_taken_names_the_fault_and_takes_the_atm_out_of_service()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        rig.Device.Faults.NotesNotTaken = true;
        var dispenser = new ExitScriptedDispenser(rig.Dispenser) { Retract = _ => Task.FromException<RetractResult>(new IOException("retract motor stalled")) };
        rig.Host.Answers(ResponseCodes.Approved);

        var (settled, unusable) = await WithdrawAsync(rig, dispenser);

        Assert.Equal((ResponseCodes.Approved, (Money?)Eur80, TerminalState.Done), (settled.ResponseCode, settled.Presented, settled.Final));
        Assert.Empty(rig.Queue.Pending);
        Assert.All(rig.Dispenser.CashUnits, u => Assert.Equal((99, 1, 0), (u.Count, u.Counters.Presented, u.Counters.Retracted)));
        Assert.Equal("the dispenser could not retract notes left at the exit (IOException: retract motor stalled)", unusable);
        var taken = Assert.Single(rig.Entries().OfType<NotesTaken>());
        Assert.Equal("the retract failed (IOException: retract motor stalled): the notes may still be at the exit, so they count as taken", taken.How);
    }

    [Fact]
    public async Task A_retract_that_does_not_finish_within_the_dispense_timeout_is_reversed_in_full_as_suspect()
    {
        // The notes are in the retract bin or still at the exit: nobody can say, so the customer is not charged (22).
        using var rig = await MoneyPathRig.CreateAsync();
        rig.Device.Faults.NotesNotTaken = true;
        var never = new TaskCompletionSource<RetractResult>();
        var dispenser = new ExitScriptedDispenser(rig.Dispenser) { Retract = _ => never.Task };
        rig.Host.Answers(ResponseCodes.Approved);

        var (settled, unusable) = await WithdrawAsync(rig, dispenser);

        Assert.Equal((ResponseCodes.SystemMalfunction, (Money?)new Money(0, Eur80.Currency)), (settled.ResponseCode, settled.Presented));
        var reversal = rig.SingleReversal();
        Assert.Equal((8_000L, 0L, ReversalReasons.SuspectedMalfunction), (reversal.AmountMinor, reversal.DispensedMinor, reversal.ReasonCode));
        Assert.Equal($"the dispenser did not finish a retract within {rig.Options.DispenseTimeout}", unusable);
        var retracted = Assert.Single(rig.Entries().OfType<NotesRetracted>());
        Assert.Equal((8_000L, false), (retracted.Value.AmountMinor, retracted.Counted));
        Assert.DoesNotContain(rig.Entries(), e => e is NotesTaken);
    }

    [Fact]
    public async Task An_exit_sensor_that_throws_names_the_fault_in_the_journal_and_the_out_of_service_reason()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        var dispenser = new ExitScriptedDispenser(rig.Dispenser) { WaitForTaken = _ => Task.FromException(new IOException("exit sensor wire cut")) };
        rig.Host.Answers(ResponseCodes.Approved);

        var (settled, unusable) = await WithdrawAsync(rig, dispenser);

        Assert.Equal((ResponseCodes.Approved, (Money?)Eur80), (settled.ResponseCode, settled.Presented));
        Assert.Empty(dispenser.Retracts);
        Assert.Empty(rig.Queue.Pending);
        Assert.All(rig.Dispenser.CashUnits, u => Assert.Equal((99, 1, 0), (u.Count, u.Counters.Presented, u.Counters.Retracted)));
        Assert.Equal("the dispenser's exit sensor failed (IOException)", unusable);
        var taken = Assert.Single(rig.Entries().OfType<NotesTaken>());
        Assert.Equal(("the exit sensor failed (IOException: exit sensor wire cut), so they count as taken", Session), (taken.How, taken.Session));
    }

    [Fact]
    public async Task Notes_not_taken_on_a_dispenser_that_cannot_retract_name_the_timeout_and_are_never_retracted()
    {
        using var rig = await MoneyPathRig.CreateAsync(options => options.PresentTimeout = TimeSpan.FromSeconds(7));
        rig.Device.Faults.NotesNotTaken = true;
        var dispenser = new ExitScriptedDispenser(rig.Dispenser) { Capability = new PresentCapability(DetectsTaken: true, CanRetract: false, CountsRetracted: false) };
        rig.Host.Answers(ResponseCodes.Approved);

        var (settled, unusable) = await WithdrawAsync(rig, dispenser);

        Assert.Equal((ResponseCodes.Approved, (Money?)Eur80), (settled.ResponseCode, settled.Presented));
        Assert.Empty(dispenser.Retracts);
        Assert.Empty(rig.Queue.Pending);
        Assert.Null(unusable);
        Assert.Equal(3, rig.Device.NotesAtExit);
        Assert.Equal("left at the exit after 00:00:07; the dispenser cannot retract, so they count as taken", Assert.Single(rig.Entries().OfType<NotesTaken>()).How);
    }

    /// <summary>A withdrawal of 80 EUR through <paramref name="dispenser"/>, the clock advanced a second at a time; returns why the ATM went out of service, if it did.</summary>
    private static async Task<(WithdrawalSettlement Settled, string? Unusable)> WithdrawAsync(MoneyPathRig rig, ICashDispenser dispenser)
    {
        var transaction = new WithdrawalTransaction(rig.Host, dispenser, rig.Forwarder, rig.Journal, rig.Options, rig.Metrics, rig.Time, NullLogger.Instance);
        string? unusable = null;
        transaction.DispenserUnusable += reason => unusable = reason;
        var withdrawal = transaction.RunAsync(Session, Eur80, MoneyPathRig.Mix80, MoneyPathRig.PhoneRequest(), rig.Host.NextStan(), Task.FromResult(false), CancellationToken.None);
        var limit = 2 * (rig.Options.PresentTimeout + rig.Options.DispenseTimeout).TotalSeconds;
        for (var second = 0; !withdrawal.IsCompleted && second < limit; second++)
        {
            await Task.WhenAny(withdrawal, Task.Delay(20));
            if (!withdrawal.IsCompleted)
            {
                rig.Time.Advance(TimeSpan.FromSeconds(1));
            }
        }

        return (await withdrawal.WaitAsync(TimeSpan.FromSeconds(10)), unusable);
    }
}
