using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Iso8583;
using CardlessAtm.Terminal.Flow;
using CardlessAtm.Terminal.Journal;
using Microsoft.Extensions.Logging.Abstractions;

namespace CardlessAtm.Terminal.Tests.MoneyPath;

/// <summary>
/// A process killed inside a retract, settled at the next start (TerminalRecovery): from the counts the retract had
/// saved (per cash unit, how far retracted and unknown moved since retract-start, never more than was presented), or —
/// when none moved — by marking the presented notes unknown, whether the dispenser can mark them or not; an exit read
/// that throws OperationCanceledException on its own or because the start is cancelled; and the uncounted retract a
/// retract timeout leaves (PresentStep). Each test asserts the notes-retracted line read back (notes per unit, value,
/// counted, detail), the reversal (amount, dispensed, reason), the cash-unit counters and the retract bin.
/// </summary>
public class InterruptedRetractMutationTests
{
    private const string Session = "s-1";
    private const int Stan = 7;
    private const string Transmission = "1201100000";
    private static readonly Money Eur80 = Money.FromMajor(80, "EUR");

    [Fact]
    public async Task An_interrupted_retract_the_dispenser_cannot_mark_reverses_every_presented_note_as_suspect_and_names_the_failure()
    {
        // The 50s cassette failed its pick (nothing presented from it); the device pulled the 10 and the 20 in before
        // the counts were saved, and this dispenser cannot mark them unknown.
        using var rig = await MoneyPathRig.CreateAsync();
        rig.Device.Faults.PickFailures.Add(3);
        var result = await PresentingAsync(rig);
        Assert.Equal([("CASS1", 1), ("CASS2", 1), ("CASS3", 0)], result.Movements.Select(m => (m.CashUnitId, m.Presented)));
        await rig.Journal.WriteAsync(RetractStarted.Of(rig.Dispenser.CashUnits) with { Session = Session, Stan = Stan });
        await rig.Device.RetractAsync(CancellationToken.None);
        var dispenser = new ExitScriptedDispenser(rig.Dispenser)
        {
            RecoverRetract = (_, _) => Task.FromResult(new RetractResult(RetractCompletion.Failed, [], false, "E-RO", "the counts store is read-only")),
        };

        Assert.Equal(1, await RecoverAsync(rig, dispenser));

        Assert.Equal([("CASS1", 1), ("CASS2", 1), ("CASS3", 0)], Assert.Single(dispenser.RecoverRetractCalls).Select(m => (m.CashUnitId, m.Presented)));
        Assert.Empty(dispenser.Retracts);
        var retracted = Assert.Single(rig.Entries().OfType<NotesRetracted>());
        Assert.Equal([("CASS1", 1), ("CASS2", 1)], Notes(retracted));
        Assert.Equal((new JournalAmount(3_000, "EUR"), false, Session, (int?)Stan), (retracted.Value, retracted.Counted, retracted.Session, retracted.Stan));
        Assert.Equal(
            "recovery: the retract was interrupted and the exit is Empty: the notes are unknown (retract bin or customer); the counts could not be marked: the counts store is read-only",
            retracted.Detail);
        var reversal = rig.SingleReversal();
        Assert.Equal((8_000L, 0L, ReversalReasons.SuspectedMalfunction), (reversal.AmountMinor, reversal.DispensedMinor, reversal.ReasonCode));
        Assert.Equal("recovery: dispense had ended; 30.00 EUR retracted uncounted (suspect)", reversal.Reason);
        // Nothing could be marked: the counts stay as the dispense left them.
        Assert.Equal([("CASS1", 99, 1, 0, 0, 0), ("CASS2", 99, 1, 0, 0, 0), ("CASS3", 97, 0, 3, 0, 0)], Counts(rig));
        Assert.Equal((0, 2, 3), (rig.Device.NotesAtExit, rig.Device.RetractBin, rig.Device.RejectTray));
        var recovered = Assert.Single(rig.Entries().OfType<Recovered>());
        Assert.Equal(("dispense had ended; 30.00 EUR retracted uncounted (suspect)", new JournalAmount(0, "EUR"), "full"), (recovered.How, recovered.Presented, recovered.Reversal));
        Assert.DoesNotContain(rig.Entries(), e => e is NotesTaken);
    }

    [Fact]
    public async Task An_interrupted_retract_is_settled_on_the_units_the_dispenser_marked_not_on_everything_presented()
    {
        // The exit cannot be read and the dispenser marks only the 50 unknown: that is the retract, 50.00 EUR suspect.
        using var rig = await MoneyPathRig.CreateAsync();
        var result = await PresentingAsync(rig);
        await rig.Journal.WriteAsync(RetractStarted.Of(rig.Dispenser.CashUnits) with { Session = Session, Stan = Stan });
        var dispenser = new ExitScriptedDispenser(rig.Dispenser)
        {
            ReadExit = _ => Task.FromException<ExitState>(new IOException("exit sensor: no answer")),
            RecoverRetract = (presented, token) => rig.Dispenser.RecoverInterruptedRetractAsync([.. presented.Where(m => m.CashUnitId == "CASS3")], token),
        };

        Assert.Equal(1, await RecoverAsync(rig, dispenser));

        Assert.Equal(result.Movements.Select(m => (m.CashUnitId, m.Presented)), Assert.Single(dispenser.RecoverRetractCalls).Select(m => (m.CashUnitId, m.Presented)));
        var retracted = Assert.Single(rig.Entries().OfType<NotesRetracted>());
        Assert.Equal([("CASS3", 1)], Notes(retracted));
        Assert.Equal((new JournalAmount(5_000, "EUR"), false), (retracted.Value, retracted.Counted));
        Assert.Equal("recovery: the retract was interrupted and the exit is Unknown: the notes are unknown (retract bin or customer)", retracted.Detail);
        var reversal = rig.SingleReversal();
        Assert.Equal((8_000L, 3_000L, ReversalReasons.SuspectedMalfunction), (reversal.AmountMinor, reversal.DispensedMinor, reversal.ReasonCode));
        Assert.Equal([("CASS1", 99, 1, 0, 0, 0), ("CASS2", 99, 1, 0, 0, 0), ("CASS3", 99, 0, 0, 1, 0)], Counts(rig));
        Assert.Equal((3, 0), (rig.Device.NotesAtExit, rig.Device.RetractBin));
        var recovered = Assert.Single(rig.Entries().OfType<Recovered>());
        Assert.Equal(("dispense had ended; 50.00 EUR retracted uncounted (suspect)", new JournalAmount(3_000, "EUR"), "partial"), (recovered.How, recovered.Presented, recovered.Reversal));
    }

    [Fact]
    public async Task An_exit_read_that_throws_operation_cancelled_on_its_own_is_an_exit_that_cannot_be_read()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await PresentingAsync(rig);
        var dispenser = new ExitScriptedDispenser(rig.Dispenser) { ReadExit = _ => Task.FromException<ExitState>(new OperationCanceledException("the sensor driver's own timeout")) };

        Assert.Equal(1, await RecoverAsync(rig, dispenser));

        Assert.Empty(rig.Queue.Pending);
        Assert.Empty(dispenser.Retracts);
        Assert.Equal([("CASS1", 99, 1, 0, 0, 0), ("CASS2", 99, 1, 0, 0, 0), ("CASS3", 99, 1, 0, 0, 0)], Counts(rig));
        Assert.Equal((3, 0), (rig.Device.NotesAtExit, rig.Device.RetractBin));
        var taken = Assert.Single(rig.Entries().OfType<NotesTaken>());
        Assert.Equal(
            "recovery: the dispenser cannot tell whether the notes were taken (its exit could not be read: OperationCanceledException: the sensor driver's own timeout): they count as presented",
            taken.How);
        Assert.DoesNotContain(rig.Entries(), e => e is NotesRetracted);
        var recovered = Assert.Single(rig.Entries().OfType<Recovered>());
        Assert.Equal(("dispense had ended", new JournalAmount(8_000, "EUR"), "none needed"), (recovered.How, recovered.Presented, recovered.Reversal));
    }

    [Fact]
    public async Task A_start_cancelled_during_the_exit_read_stops_recovery_and_leaves_the_withdrawal_to_the_next_start()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await PresentingAsync(rig);
        using var stopping = new CancellationTokenSource();
        var dispenser = new ExitScriptedDispenser(rig.Dispenser)
        {
            ReadExit = token =>
            {
                stopping.Cancel(); // the service is stopped while the exit is read
                return Task.FromException<ExitState>(new OperationCanceledException(token));
            },
        };

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => new TerminalRecovery(rig.Journal, dispenser, rig.Forwarder, rig.Time, NullLogger.Instance).RecoverAsync(stopping.Token));

        Assert.Empty(rig.Queue.Pending);
        Assert.DoesNotContain(rig.Entries(), e => e is NotesTaken or NotesRetracted or Recovered);
        Assert.Equal([("CASS1", 99, 1, 0, 0, 0), ("CASS2", 99, 1, 0, 0, 0), ("CASS3", 99, 1, 0, 0, 0)], Counts(rig));
        Assert.Equal((3, 0), (rig.Device.NotesAtExit, rig.Device.RetractBin));

        // The next start reads the exit, finds the notes there and retracts them: reversed once, as retracted (17).
        Assert.Equal(1, await RecoverAsync(rig, rig.Dispenser));
        var reversal = rig.SingleReversal();
        Assert.Equal((8_000L, 0L, ReversalReasons.NotesRetracted), (reversal.AmountMinor, reversal.DispensedMinor, reversal.ReasonCode));
        Assert.Equal([("CASS1", 99, 0, 0, 0, 1), ("CASS2", 99, 0, 0, 0, 1), ("CASS3", 99, 0, 0, 0, 1)], Counts(rig));
        Assert.Equal((0, 3), (rig.Device.NotesAtExit, rig.Device.RetractBin));
        var retracted = Assert.Single(rig.Entries().OfType<NotesRetracted>());
        Assert.Equal([("CASS1", 1), ("CASS2", 1), ("CASS3", 1)], Notes(retracted));
        Assert.Equal((new JournalAmount(8_000, "EUR"), true), (retracted.Value, retracted.Counted));
    }

    [Fact]
    public async Task Killed_after_a_retract_saved_one_unit_counted_and_one_unknown_reverses_exactly_those_notes_as_suspect()
    {
        // CASS1's retract was counted (retracted 1 of 1), CASS2's note was marked unknown, and CASS3 is not in the
        // retract-start line (a unit configured after it was written): its counters, moved or not, are not this retract.
        RetractScriptedDevice? device = null;
        using var rig = await MoneyPathRig.CreateAsync(wrap: d => device = new RetractScriptedDevice(d));
        await EarlierRetractAsync(rig); // every unit already has 1 retracted from an earlier withdrawal
        var result = await PresentingAsync(rig);
        await rig.Journal.WriteAsync(new RetractStarted(
            new Dictionary<string, int> { ["CASS1"] = 1, ["CASS2"] = 1 },
            new Dictionary<string, int> { ["CASS1"] = 0, ["CASS2"] = 0 })
        { Session = Session, Stan = Stan });
        device!.Answer = new DeviceRetractResult(RetractCompletion.Ok, [new PositionCount(1, 1)]);
        var counted = await rig.Dispenser.RetractAsync(result.Movements, CancellationToken.None);
        Assert.Equal((true, 1), (counted.Counted, counted.Units.Single().Notes));
        await rig.Dispenser.RecoverInterruptedRetractAsync([.. result.Movements.Where(m => m.CashUnitId == "CASS2")], CancellationToken.None);
        Assert.Equal([("CASS1", 98, 0, 0, 0, 2), ("CASS2", 98, 0, 0, 1, 1), ("CASS3", 98, 1, 0, 0, 1)], Counts(rig));
        var dispenser = new ExitScriptedDispenser(rig.Dispenser);

        Assert.Equal(1, await RecoverAsync(rig, dispenser));
        Assert.Equal(0, await RecoverAsync(rig, dispenser));

        Assert.Empty(dispenser.Retracts);
        Assert.Empty(dispenser.RecoverRetractCalls);
        Assert.Equal(0, dispenser.ExitReads);
        var retracted = Assert.Single(rig.Entries().OfType<NotesRetracted>());
        Assert.Equal([("CASS1", 1), ("CASS2", 1)], Notes(retracted));
        Assert.Equal((new JournalAmount(3_000, "EUR"), false, "recovery: the interrupted retract had saved its counts"), (retracted.Value, retracted.Counted, retracted.Detail));
        var reversal = rig.SingleReversal();
        Assert.Equal((8_000L, 5_000L, ReversalReasons.SuspectedMalfunction), (reversal.AmountMinor, reversal.DispensedMinor, reversal.ReasonCode));
        Assert.Equal([("CASS1", 98, 0, 0, 0, 2), ("CASS2", 98, 0, 0, 1, 1), ("CASS3", 98, 1, 0, 0, 1)], Counts(rig));
        Assert.Equal((0, 6), (rig.Device.NotesAtExit, rig.Device.RetractBin));
        var recovered = Assert.Single(rig.Entries().OfType<Recovered>());
        Assert.Equal(("dispense had ended; 30.00 EUR retracted uncounted (suspect)", new JournalAmount(5_000, "EUR"), "partial"), (recovered.How, recovered.Presented, recovered.Reversal));
        Assert.DoesNotContain(rig.Entries(), e => e is NotesTaken);
    }

    [Fact]
    public async Task Killed_after_a_counted_retract_whose_counters_moved_more_than_was_presented_retracts_only_the_presented_notes()
    {
        // CASS3's retract-start count predates the earlier retract: its counter moved 2, the dispense presented 1.
        using var rig = await MoneyPathRig.CreateAsync();
        await EarlierRetractAsync(rig);
        var result = await PresentingAsync(rig);
        await rig.Journal.WriteAsync(new RetractStarted(
            new Dictionary<string, int> { ["CASS1"] = 1, ["CASS2"] = 1, ["CASS3"] = 0 },
            new Dictionary<string, int> { ["CASS1"] = 0, ["CASS2"] = 0, ["CASS3"] = 0 })
        { Session = Session, Stan = Stan });
        await rig.Dispenser.RetractAsync(result.Movements, CancellationToken.None); // saved, then killed
        var dispenser = new ExitScriptedDispenser(rig.Dispenser);

        Assert.Equal(1, await RecoverAsync(rig, dispenser));

        Assert.Equal((0, 0, 0), (dispenser.Retracts.Count, dispenser.RecoverRetractCalls.Count, dispenser.ExitReads));
        var retracted = Assert.Single(rig.Entries().OfType<NotesRetracted>());
        Assert.Equal([("CASS1", 1), ("CASS2", 1), ("CASS3", 1)], Notes(retracted));
        Assert.Equal((new JournalAmount(8_000, "EUR"), true, "recovery: the interrupted retract had saved its counts"), (retracted.Value, retracted.Counted, retracted.Detail));
        var reversal = rig.SingleReversal();
        Assert.Equal((8_000L, 0L, ReversalReasons.NotesRetracted), (reversal.AmountMinor, reversal.DispensedMinor, reversal.ReasonCode));
        Assert.Equal([("CASS1", 98, 0, 0, 0, 2), ("CASS2", 98, 0, 0, 0, 2), ("CASS3", 98, 0, 0, 0, 2)], Counts(rig));
        Assert.Equal((0, 6), (rig.Device.NotesAtExit, rig.Device.RetractBin));
        var recovered = Assert.Single(rig.Entries().OfType<Recovered>());
        Assert.Equal(("dispense had ended; 80.00 EUR retracted from the exit", new JournalAmount(0, "EUR"), "full"), (recovered.How, recovered.Presented, recovered.Reversal));
    }

    [Fact]
    public async Task A_retract_timeout_after_a_partial_dispense_reverses_only_the_presented_units_as_suspect()
    {
        // The 50s cassette failed its pick: 30.00 EUR were presented, not taken, and the retract never answered.
        using var rig = await MoneyPathRig.CreateAsync();
        rig.Device.Faults.PickFailures.Add(3);
        rig.Device.Faults.NotesNotTaken = true;
        var never = new TaskCompletionSource<RetractResult>();
        var dispenser = new ExitScriptedDispenser(rig.Dispenser) { Retract = _ => never.Task };
        rig.Host.Answers(ResponseCodes.Approved);

        var (settled, unusable) = await WithdrawAsync(rig, dispenser);

        Assert.Equal((ResponseCodes.SystemMalfunction, (Money?)new Money(0, Eur80.Currency)), (settled.ResponseCode, settled.Presented));
        Assert.Equal([("CASS1", 1), ("CASS2", 1), ("CASS3", 0)], Assert.Single(dispenser.Retracts).Select(m => (m.CashUnitId, m.Presented)));
        var retracted = Assert.Single(rig.Entries().OfType<NotesRetracted>());
        Assert.Equal([("CASS1", 1), ("CASS2", 1)], Notes(retracted));
        Assert.Equal((new JournalAmount(3_000, "EUR"), false, Session), (retracted.Value, retracted.Counted, retracted.Session));
        Assert.Equal($"the retract did not end within {rig.Options.DispenseTimeout}: the notes are in the retract bin or still at the exit", retracted.Detail);
        Assert.Equal($"the dispenser did not finish a retract within {rig.Options.DispenseTimeout}", unusable);
        var reversal = rig.SingleReversal();
        Assert.Equal((8_000L, 0L, ReversalReasons.SuspectedMalfunction), (reversal.AmountMinor, reversal.DispensedMinor, reversal.ReasonCode));
        Assert.Equal($"notes not taken within {rig.Options.PresentTimeout}: 30.00 EUR retracted uncounted (suspect)", reversal.Reason);
        // The timed-out retract changed no counts (a late answer lands in the retract bin); the notes are still at the exit.
        Assert.Equal([("CASS1", 99, 1, 0, 0, 0), ("CASS2", 99, 1, 0, 0, 0), ("CASS3", 97, 0, 3, 0, 0)], Counts(rig));
        Assert.Equal((2, 0, 3), (rig.Device.NotesAtExit, rig.Device.RetractBin, rig.Device.RejectTray));
        Assert.Single(rig.Entries().OfType<RetractStarted>());
        Assert.DoesNotContain(rig.Entries(), e => e is NotesTaken);
    }

    private static IEnumerable<(string Unit, int Notes)> Notes(NotesRetracted retracted) =>
        retracted.Notes.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => (p.Key, p.Value));

    /// <summary>Per cash unit: id, count, presented, rejected, unknown, retracted.</summary>
    private static List<(string Id, int Count, int Presented, int Rejected, int Unknown, int Retracted)> Counts(MoneyPathRig rig) =>
        [.. rig.Dispenser.CashUnits.Select(u => (u.Id, u.Count, u.Counters.Presented, u.Counters.Rejected, u.Counters.Unknown, u.Counters.Retracted))];

    private static Task<int> RecoverAsync(MoneyPathRig rig, ICashDispenser dispenser) =>
        new TerminalRecovery(rig.Journal, dispenser, rig.Forwarder, rig.Time, NullLogger.Instance).RecoverAsync(CancellationToken.None);

    /// <summary>An earlier 80.00 EUR left at the exit and retracted, counted: each unit has one note retracted.</summary>
    private static async Task EarlierRetractAsync(MoneyPathRig rig)
    {
        var earlier = await rig.Dispenser.DispenseAsync(MoneyPathRig.Mix80, CancellationToken.None);
        var retract = await rig.Dispenser.RetractAsync(earlier.Movements, CancellationToken.None);
        Assert.Equal((RetractCompletion.Ok, true, 3), (retract.Completion, retract.Counted, rig.Device.RetractBin));
    }

    /// <summary>A crash in Presenting: 80 EUR asked, approved, dispensed for real (as far as the device got) and waiting at the exit.</summary>
    private static async Task<DispenseResult> PresentingAsync(MoneyPathRig rig)
    {
        await rig.Journal.WriteAsync(JournalSamples.Asked(Session, Stan, transmission: Transmission));
        await rig.Journal.WriteAsync(JournalSamples.Answered(Session, Stan));
        await rig.Journal.WriteAsync(JournalSamples.DispenseStart(Session, Stan, MoneyPathRig.Mix80, rig.Dispenser.CashUnits, transmission: Transmission));
        var result = await rig.Dispenser.DispenseAsync(MoneyPathRig.Mix80, CancellationToken.None);
        await rig.Journal.WriteAsync(JournalSamples.DispenseEnd(Session, Stan, result));
        await rig.Journal.WriteAsync(new PresentStarted(JournalAmount.Of(result.Presented), rig.Options.PresentTimeout, CanRetract: true) { Session = Session, Stan = Stan });
        return result;
    }

    /// <summary>An 80 EUR withdrawal through <paramref name="dispenser"/> on fake time; returns why the ATM went out of service, if it did.</summary>
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
