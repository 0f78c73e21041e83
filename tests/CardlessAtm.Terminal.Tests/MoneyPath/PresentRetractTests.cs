using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Iso8583;
using CardlessAtm.Terminal.Flow;
using CardlessAtm.Terminal.Journal;

namespace CardlessAtm.Terminal.Tests.MoneyPath;

/// <summary>
/// Issue 19, present/take/retract: the withdrawal waits in Presenting up to Terminal:PresentTimeout on a dispenser that
/// can tell the notes were taken, then retracts and reverses what it retracted. Each test asserts the phone's code, the
/// reversal queue and the cash-unit counts (cassette, presented, retracted, unknown), on fake time.
/// </summary>
public class PresentRetractTests
{
    private static readonly Money Eur80 = Money.FromMajor(80, "EUR");

    [Fact]
    public async Task Notes_taken_before_the_present_timeout_complete_the_withdrawal_with_nothing_reversed()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        rig.Device.Faults.TakeDelay = TimeSpan.FromSeconds(5);
        rig.Host.Answers(ResponseCodes.Approved);

        var settled = await rig.RunOnFakeTimeAsync(rig.WithdrawAsync());

        Assert.Equal((ResponseCodes.Approved, TerminalState.Done, (Money?)Eur80), (settled.ResponseCode, settled.Final, settled.Presented));
        Assert.Empty(rig.Queue.Pending);
        Assert.All(rig.Dispenser.CashUnits, u => Assert.Equal((99, 1, 0, 0), (u.Count, u.Counters.Presented, u.Counters.Retracted, u.Counters.Unknown)));
        Assert.Equal((0, 0), (rig.Device.NotesAtExit, rig.Device.RetractBin));
        Assert.True(rig.Time.GetUtcNow() - Start < rig.Options.PresentTimeout, "the withdrawal waited for the timeout although the notes were taken");
        Assert.Contains(rig.Entries(), e => e is NotesTaken { How: NotesTaken.ByCustomer });
        Assert.Null(rig.UnusableReason);
    }

    [Fact]
    public async Task Notes_not_taken_are_retracted_after_the_present_timeout_counted_in_the_retract_bin_and_reversed_in_full()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        rig.Device.Faults.NotesNotTaken = true;
        rig.Host.Answers(ResponseCodes.Approved);

        var settled = await rig.RunOnFakeTimeAsync(rig.WithdrawAsync());

        Assert.Equal(new WithdrawalSettlement(ResponseCodes.SystemMalfunction, new Money(0, Eur80.Currency), CustomerTexts.English.NotesRetracted, TerminalState.Terminated), settled);
        Assert.True(rig.Time.GetUtcNow() - Start >= rig.Options.PresentTimeout, "retracted before the present timeout");
        var reversal = rig.SingleReversal();
        Assert.Equal((8_000L, 0L, ReversalReasons.NotesRetracted, false), (reversal.AmountMinor, reversal.DispensedMinor, reversal.ReasonCode, reversal.IsPartial));
        // The notes are in the retract bin, not back in the cassettes, and no longer count as presented.
        Assert.All(rig.Dispenser.CashUnits, u => Assert.Equal((99, 0, 1, 0), (u.Count, u.Counters.Presented, u.Counters.Retracted, u.Counters.Unknown)));
        Assert.Equal((0, 3), (rig.Device.NotesAtExit, rig.Device.RetractBin));
        var retracted = Assert.Single(rig.Entries().OfType<NotesRetracted>());
        Assert.Equal((8_000L, true, 3), (retracted.Value.AmountMinor, retracted.Counted, retracted.Notes.Values.Sum()));
        Assert.DoesNotContain(rig.Entries(), e => e is NotesTaken);
    }

    [Fact]
    public async Task Part_of_the_notes_taken_before_the_retract_gives_a_partial_reversal_of_the_retracted_notes_only()
    {
        // The customer took the 10 and the 20; the device retracted and counted the 50 it found at the exit.
        using var rig = await MoneyPathRig.CreateAsync(wrap: device => new RetractScriptedDevice(device) { Answer = new DeviceRetractResult(RetractCompletion.Ok, [new PositionCount(3, 1)]) });
        rig.Device.Faults.NotesNotTaken = true;
        rig.Host.Answers(ResponseCodes.Approved);

        var settled = await rig.RunOnFakeTimeAsync(rig.WithdrawAsync());

        Assert.Equal((ResponseCodes.Approved, (Money?)Money.FromMajor(30, "EUR")), (settled.ResponseCode, settled.Presented));
        var reversal = rig.SingleReversal();
        Assert.Equal((8_000L, 3_000L, ReversalReasons.NotesRetracted, true), (reversal.AmountMinor, reversal.DispensedMinor, reversal.ReasonCode, reversal.IsPartial));
        Assert.Equal((1, 0), Counters(rig, "CASS1"));
        Assert.Equal((1, 0), Counters(rig, "CASS2"));
        Assert.Equal((0, 1), Counters(rig, "CASS3"));
    }

    [Fact]
    public async Task A_retract_that_cannot_count_reverses_everything_presented_as_suspect_and_marks_the_notes_unknown()
    {
        using var rig = await MoneyPathRig.CreateAsync(presenting: new PresentCapability(DetectsTaken: true, CanRetract: true, CountsRetracted: false));
        rig.Device.Faults.NotesNotTaken = true;
        rig.Host.Answers(ResponseCodes.Approved);

        var settled = await rig.RunOnFakeTimeAsync(rig.WithdrawAsync());

        Assert.Equal(ResponseCodes.SystemMalfunction, settled.ResponseCode);
        var reversal = rig.SingleReversal();
        Assert.Equal((0L, ReversalReasons.SuspectedMalfunction), (reversal.DispensedMinor, reversal.ReasonCode));
        Assert.All(rig.Dispenser.CashUnits, u => Assert.Equal((99, 0, 0, 1), (u.Count, u.Counters.Presented, u.Counters.Retracted, u.Counters.Unknown)));
        Assert.Contains(rig.Entries(), e => e is NotesRetracted { Counted: false, Value.AmountMinor: 8_000 });
    }

    [Fact]
    public async Task A_retract_that_fails_leaves_the_notes_counted_as_taken_reverses_nothing_and_takes_the_atm_out_of_service()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        rig.Device.Faults.NotesNotTaken = true;
        rig.Device.Faults.RetractFails = true;
        rig.Host.Answers(ResponseCodes.Approved);

        var settled = await rig.RunOnFakeTimeAsync(rig.WithdrawAsync());

        Assert.Equal((ResponseCodes.Approved, (Money?)Eur80), (settled.ResponseCode, settled.Presented));
        Assert.Empty(rig.Queue.Pending);
        Assert.All(rig.Dispenser.CashUnits, u => Assert.Equal((99, 1, 0), (u.Count, u.Counters.Presented, u.Counters.Retracted)));
        Assert.Equal(3, rig.Device.NotesAtExit);
        Assert.NotNull(rig.UnusableReason);
        Assert.Contains(rig.Entries(), e => e is NotesTaken taken && taken.How.StartsWith("the retract failed", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_dispenser_that_detects_but_cannot_retract_waits_then_counts_the_notes_as_taken()
    {
        using var rig = await MoneyPathRig.CreateAsync(presenting: new PresentCapability(DetectsTaken: true, CanRetract: false, CountsRetracted: false));
        rig.Device.Faults.NotesNotTaken = true;
        rig.Host.Answers(ResponseCodes.Approved);

        var settled = await rig.RunOnFakeTimeAsync(rig.WithdrawAsync());

        Assert.Equal((ResponseCodes.Approved, (Money?)Eur80), (settled.ResponseCode, settled.Presented));
        Assert.Empty(rig.Queue.Pending);
        Assert.All(rig.Dispenser.CashUnits, u => Assert.Equal((1, 0), (u.Counters.Presented, u.Counters.Retracted)));
        Assert.Null(rig.UnusableReason);
        Assert.Contains(rig.Entries(), e => e is PresentStarted { CanRetract: false });
        Assert.Contains(rig.Entries(), e => e is NotesTaken taken && taken.How.Contains("cannot retract", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_dispenser_without_the_capability_keeps_todays_behaviour_no_wait_no_present_entries()
    {
        using var rig = await MoneyPathRig.CreateAsync(presenting: PresentCapability.None);
        rig.Device.Faults.NotesNotTaken = true; // a customer who walks away changes nothing on such a device
        rig.Host.Answers(ResponseCodes.Approved);

        var settled = await rig.WithdrawAsync(); // completes without any time passing

        Assert.Equal((ResponseCodes.Approved, (Money?)Eur80, TerminalState.Done), (settled.ResponseCode, settled.Presented, settled.Final));
        Assert.Equal(Start, rig.Time.GetUtcNow());
        Assert.Empty(rig.Queue.Pending);
        Assert.All(rig.Dispenser.CashUnits, u => Assert.Equal((99, 1, 0), (u.Count, u.Counters.Presented, u.Counters.Retracted)));
        Assert.DoesNotContain(rig.Entries(), e => e is PresentStarted or NotesTaken or NotesRetracted);
        Assert.Equal(PresentCapability.None, rig.Dispenser.Presenting);
    }

    [Fact]
    public async Task An_exit_sensor_that_throws_while_presenting_counts_the_notes_as_taken_and_takes_the_atm_out_of_service()
    {
        using var rig = await MoneyPathRig.CreateAsync(wrap: device => new RetractScriptedDevice(device) { WaitFault = new IOException("exit sensor wire cut") });
        rig.Host.Answers(ResponseCodes.Approved);

        var settled = await rig.WithdrawAsync();

        Assert.Equal((ResponseCodes.Approved, (Money?)Eur80), (settled.ResponseCode, settled.Presented));
        Assert.Empty(rig.Queue.Pending);
        Assert.All(rig.Dispenser.CashUnits, u => Assert.Equal((1, 0), (u.Counters.Presented, u.Counters.Retracted)));
        Assert.NotNull(rig.UnusableReason);
        Assert.Contains(rig.Entries(), e => e is NotesTaken taken && taken.How.Contains("exit sensor failed", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_jam_whose_presented_notes_are_not_taken_reverses_the_whole_amount_with_the_retract_reason()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        rig.Device.Faults.JamAfterNotes = 1;
        rig.Device.Faults.NotesNotTaken = true;
        rig.Host.Answers(ResponseCodes.Approved);

        var settled = await rig.RunOnFakeTimeAsync(rig.WithdrawAsync());

        Assert.Equal(ResponseCodes.SystemMalfunction, settled.ResponseCode);
        var reversal = rig.SingleReversal();
        Assert.Equal((8_000L, 0L, ReversalReasons.NotesRetracted), (reversal.AmountMinor, reversal.DispensedMinor, reversal.ReasonCode));
        Assert.Equal((0, 1), Counters(rig, "CASS1"));
        Assert.Equal(1, rig.Dispenser.CashUnits.Single(u => u.Id == "CASS2").Counters.Rejected);
    }

    private static readonly DateTimeOffset Start = new(2026, 12, 1, 10, 0, 0, TimeSpan.Zero);

    private static (int Presented, int Retracted) Counters(MoneyPathRig rig, string unit)
    {
        var counters = rig.Dispenser.CashUnits.Single(u => u.Id == unit).Counters;
        return (counters.Presented, counters.Retracted);
    }

}
