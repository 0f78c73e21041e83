using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Iso8583;
using CardlessAtm.Terminal.Flow;
using CardlessAtm.Terminal.Journal;
using Microsoft.Extensions.Logging.Abstractions;

namespace CardlessAtm.Terminal.Tests.MoneyPath;

/// <summary>
/// Recovery's decisions after a crash in Presenting or mid-dispense, and what it cannot settle: each test writes the
/// journal a crash would leave, scripts what the dispenser answers, then asserts the reversal (amount, dispensed
/// amount, reason), the retract bin and cash counts, the recovered line, and the operator's list of unsettled withdrawals.
/// </summary>
public class RecoveryPresentingMutationTests
{
    private const string Session = "s-1";
    private const int Stan = 7;
    private const string Transmission = "1201100000";
    private const string ReversalId = "000007-1201100000";
    private static readonly Money Eur10 = Money.FromMajor(10, "EUR");
    private static readonly Money Eur20 = Money.FromMajor(20, "EUR");
    private static readonly Money Eur50 = Money.FromMajor(50, "EUR");

    [Fact]
    public async Task A_retract_at_recovery_that_finds_nothing_leaves_the_notes_counted_as_taken_and_says_how_the_retract_ended()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await PresentingAsync(rig);
        var dispenser = new ExitScriptedDispenser(rig.Dispenser) { Retract = _ => Task.FromResult(new RetractResult(RetractCompletion.Ok, [], true, null, "exit empty")) };

        var (settled, recovery) = await RecoverAsync(rig, dispenser);

        Assert.Equal((1, 0), (settled, recovery.Unsettled.Count));
        Assert.Single(dispenser.Retracts);
        Assert.Empty(rig.Queue.Pending);
        Assert.DoesNotContain(rig.Entries(), e => e is NotesRetracted);
        Assert.All(rig.Dispenser.CashUnits, u => Assert.Equal((99, 1, 0), (u.Count, u.Counters.Presented, u.Counters.Retracted)));
        var taken = Assert.Single(rig.Entries().OfType<NotesTaken>());
        Assert.Equal(("recovery: the notes were at the exit but the retract ended Ok (exit empty): they count as taken", Session, (int?)Stan), (taken.How, taken.Session, taken.Stan));
        var recovered = Assert.Single(rig.Entries().OfType<Recovered>());
        Assert.Equal(("dispense had ended", new JournalAmount(8_000, "EUR"), "none needed"), (recovered.How, recovered.Presented, recovered.Reversal));
    }

    [Fact]
    public async Task A_retract_at_recovery_that_fails_leaves_the_notes_at_the_exit_counted_as_taken_with_its_detail()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await PresentingAsync(rig);
        var dispenser = new ExitScriptedDispenser(rig.Dispenser) { Retract = _ => Task.FromResult(new RetractResult(RetractCompletion.Failed, [], false, "E42", "shutter jammed")) };

        var (settled, _) = await RecoverAsync(rig, dispenser);

        Assert.Equal(1, settled);
        Assert.Empty(rig.Queue.Pending);
        Assert.Equal((3, 0), (rig.Device.NotesAtExit, rig.Device.RetractBin));
        var taken = Assert.Single(rig.Entries().OfType<NotesTaken>());
        Assert.Equal(("recovery: the notes were at the exit but the retract ended Failed (shutter jammed): they count as taken", Session, (int?)Stan), (taken.How, taken.Session, taken.Stan));
        Assert.Contains(rig.Entries(), e => e is Recovered { Reversal: "none needed", Session: Session });
    }

    [Fact]
    public async Task Notes_at_the_exit_of_a_dispenser_that_cannot_retract_stay_there_counted_as_taken()
    {
        using var rig = await MoneyPathRig.CreateAsync(presenting: new PresentCapability(DetectsTaken: true, CanRetract: false, CountsRetracted: false));
        await PresentingAsync(rig);

        var (settled, _) = await RecoverAsync(rig);

        Assert.Equal(1, settled);
        Assert.Empty(rig.Queue.Pending);
        Assert.Equal((3, 0), (rig.Device.NotesAtExit, rig.Device.RetractBin));
        Assert.All(rig.Dispenser.CashUnits, u => Assert.Equal((99, 1, 0), (u.Count, u.Counters.Presented, u.Counters.Retracted)));
        Assert.Equal("recovery: notes at the exit; the dispenser cannot retract, so they count as taken", Assert.Single(rig.Entries().OfType<NotesTaken>()).How);
    }

    [Fact]
    public async Task A_dispense_that_names_a_cash_unit_the_dispenser_does_not_have_is_left_to_an_operator_without_retracting()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await AskedAsync(rig);
        await ApprovedAsync(rig);
        await rig.Journal.WriteAsync(DispenseStart(rig));
        await rig.Dispenser.DispenseAsync(MoneyPathRig.Mix80, CancellationToken.None);
        await rig.Journal.WriteAsync(JournalSamples.DispenseEnd(Session, Stan, new DispenseResult(DispenseCompletion.Ok, MoneyPathRig.Mix80.Amount, [new UnitMovement("CASS9", Eur50, 1, 0, 0)])));
        await rig.Journal.WriteAsync(new PresentStarted(new JournalAmount(5_000, "EUR"), rig.Options.PresentTimeout, CanRetract: true) { Session = Session, Stan = Stan });

        var (settled, recovery) = await RecoverAsync(rig);

        Assert.Equal(0, settled);
        Assert.Empty(rig.Queue.Pending);
        Assert.Equal((3, 0), (rig.Device.NotesAtExit, rig.Device.RetractBin));
        var problem = Assert.Single(recovery.Unsettled);
        Assert.Equal($"the journal {rig.Journal.Path} holds withdrawal s-1 (stan 7, line sequence 1) that recovery cannot settle: Sequence contains no matching element", problem);
        Assert.DoesNotContain(rig.Entries(), e => e is NotesTaken or NotesRetracted or Recovered);
    }

    [Fact]
    public async Task A_journalled_retract_that_could_not_count_is_reversed_in_full_as_suspect()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await PresentingAsync(rig);
        await rig.Journal.WriteAsync(new NotesRetracted(new JournalAmount(8_000, "EUR"), new Dictionary<string, int> { ["CASS1"] = 1, ["CASS2"] = 1, ["CASS3"] = 1 }, Counted: false, "no count") { Session = Session, Stan = Stan });

        var (settled, _) = await RecoverAsync(rig);

        Assert.Equal(1, settled);
        var reversal = rig.SingleReversal();
        Assert.Equal((ReversalId, 8_000L, 0L, ReversalReasons.SuspectedMalfunction), (reversal.Id, reversal.AmountMinor, reversal.DispensedMinor, reversal.ReasonCode));
        Assert.Equal("recovery: dispense had ended; 80.00 EUR retracted uncounted (suspect)", reversal.Reason);
        var recovered = Assert.Single(rig.Entries().OfType<Recovered>());
        Assert.Equal(("dispense had ended; 80.00 EUR retracted uncounted (suspect)", new JournalAmount(0, "EUR"), "full"), (recovered.How, recovered.Presented, recovered.Reversal));
    }

    [Fact]
    public async Task A_counted_retract_after_a_dispense_with_notes_of_unknown_fate_is_reversed_as_suspect()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await AskedAsync(rig);
        await ApprovedAsync(rig);
        await rig.Journal.WriteAsync(DispenseStart(rig));
        await rig.Journal.WriteAsync(JournalSamples.DispenseEnd(Session, Stan, new DispenseResult(DispenseCompletion.Jam, MoneyPathRig.Mix80.Amount,
            [new UnitMovement("CASS1", Eur10, 1, 0, 0), new UnitMovement("CASS2", Eur20, 1, 0, 0), new UnitMovement("CASS3", Eur50, 0, 0, 1)])));
        await rig.Journal.WriteAsync(new PresentStarted(new JournalAmount(3_000, "EUR"), rig.Options.PresentTimeout, CanRetract: true) { Session = Session, Stan = Stan });
        await rig.Journal.WriteAsync(new NotesRetracted(new JournalAmount(3_000, "EUR"), new Dictionary<string, int> { ["CASS1"] = 1, ["CASS2"] = 1 }, Counted: true, null) { Session = Session, Stan = Stan });

        var (settled, _) = await RecoverAsync(rig);

        Assert.Equal(1, settled);
        var reversal = rig.SingleReversal();
        Assert.Equal((8_000L, 0L, ReversalReasons.SuspectedMalfunction), (reversal.AmountMinor, reversal.DispensedMinor, reversal.ReasonCode));
        var recovered = Assert.Single(rig.Entries().OfType<Recovered>());
        Assert.Equal(("dispense had ended; 30.00 EUR retracted from the exit", new JournalAmount(0, "EUR"), "full"), (recovered.How, recovered.Presented, recovered.Reversal));
    }

    [Fact]
    public async Task A_journalled_retract_worth_more_than_was_presented_counts_nothing_as_presented_and_reverses_in_full()
    {
        // A jam presented 30.00 EUR; the retract counted 80.00 EUR (notes of an earlier customer were at the exit too).
        using var rig = await MoneyPathRig.CreateAsync();
        await AskedAsync(rig);
        await ApprovedAsync(rig);
        await rig.Journal.WriteAsync(DispenseStart(rig));
        await rig.Journal.WriteAsync(JournalSamples.DispenseEnd(Session, Stan, new DispenseResult(DispenseCompletion.Jam, MoneyPathRig.Mix80.Amount,
            [new UnitMovement("CASS1", Eur10, 1, 0, 0), new UnitMovement("CASS2", Eur20, 1, 0, 0), new UnitMovement("CASS3", Eur50, 0, 1, 0)])));
        await rig.Journal.WriteAsync(new PresentStarted(new JournalAmount(3_000, "EUR"), rig.Options.PresentTimeout, CanRetract: true) { Session = Session, Stan = Stan });
        await rig.Journal.WriteAsync(new NotesRetracted(new JournalAmount(8_000, "EUR"), new Dictionary<string, int> { ["CASS1"] = 1, ["CASS2"] = 1, ["CASS3"] = 1 }, Counted: true, null) { Session = Session, Stan = Stan });

        var (settled, recovery) = await RecoverAsync(rig);

        Assert.Equal((1, 0), (settled, recovery.Unsettled.Count));
        var reversal = rig.SingleReversal();
        Assert.Equal((8_000L, 0L, ReversalReasons.NotesRetracted, false), (reversal.AmountMinor, reversal.DispensedMinor, reversal.ReasonCode, reversal.IsPartial));
        var recovered = Assert.Single(rig.Entries().OfType<Recovered>());
        Assert.Equal((new JournalAmount(0, "EUR"), "full"), (recovered.Presented, recovered.Reversal));
    }

    [Fact]
    public async Task Killed_mid_dispense_without_a_counter_baseline_does_not_ask_the_device_for_its_counters()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await AskedAsync(rig);
        await ApprovedAsync(rig);
        await rig.Journal.WriteAsync(DispenseStart(rig)); // no counters journalled
        var dispenser = new ScriptedDispenser(rig.Dispenser);
        dispenser.CounterReads.Enqueue(() => Task.FromException<DeviceCounters?>(new IOException("counter read must not happen")));

        var (settled, _) = await RecoverAsync(rig, dispenser);

        Assert.Equal(1, settled);
        Assert.Single(dispenser.CounterReads); // never read
        Assert.Null(Assert.Single(dispenser.RecoveredMoves));
        var reversal = rig.SingleReversal();
        Assert.Equal((8_000L, 0L, ReversalReasons.SuspectedMalfunction), (reversal.AmountMinor, reversal.DispensedMinor, reversal.ReasonCode));
        Assert.Equal("recovery: dispense interrupted; the device keeps no counters, notes marked unknown", reversal.Reason);
    }

    [Fact]
    public async Task Killed_mid_dispense_with_a_baseline_but_counters_that_vanished_marks_the_notes_unknown_and_reverses_in_full()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await AskedAsync(rig);
        await ApprovedAsync(rig);
        var before = await rig.Dispenser.ReadDeviceCountersAsync(CancellationToken.None);
        Assert.NotNull(before);
        await rig.Journal.WriteAsync(DispenseStart(rig, before));
        var dispenser = new ScriptedDispenser(rig.Dispenser);
        dispenser.CounterReads.Enqueue(() => Task.FromResult<DeviceCounters?>(null));

        var (settled, recovery) = await RecoverAsync(rig, dispenser);

        Assert.Equal((1, 0), (settled, recovery.Unsettled.Count));
        Assert.Null(Assert.Single(dispenser.RecoveredMoves));
        var reversal = rig.SingleReversal();
        Assert.Equal((8_000L, 0L, ReversalReasons.SuspectedMalfunction), (reversal.AmountMinor, reversal.DispensedMinor, reversal.ReasonCode));
        Assert.Contains(rig.Entries(), e => e is Recovered { How: "dispense interrupted; the device keeps no counters, notes marked unknown", Reversal: "full" });
    }

    [Fact]
    public async Task Killed_mid_dispense_before_any_note_moved_reverses_in_full_as_a_malfunction_from_the_counters()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await AskedAsync(rig);
        await ApprovedAsync(rig);
        var before = await rig.Dispenser.ReadDeviceCountersAsync(CancellationToken.None);
        await rig.Journal.WriteAsync(DispenseStart(rig, before));

        var (settled, _) = await RecoverAsync(rig);

        Assert.Equal(1, settled);
        var reversal = rig.SingleReversal();
        Assert.Equal((8_000L, 0L, ReversalReasons.AtmMalfunction), (reversal.AmountMinor, reversal.DispensedMinor, reversal.ReasonCode));
        Assert.Equal(300, rig.NotesLeft);
        Assert.Contains(rig.Entries(), e => e is Recovered { How: "dispense interrupted; settled from the device counters", Reversal: "full" });
    }

    [Fact]
    public async Task An_authorise_request_without_a_stan_is_left_to_an_operator_naming_the_journal_and_the_line()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await rig.Journal.WriteAsync(JournalSamples.Asked(Session, Stan, transmission: Transmission) with { Stan = null });

        var (settled, recovery) = await RecoverAsync(rig);

        Assert.Equal(0, settled);
        Assert.Empty(rig.Queue.Pending);
        var problem = Assert.Single(recovery.Unsettled);
        Assert.Equal($"the journal {rig.Journal.Path} holds withdrawal s-1 (stan , line sequence 1) that recovery cannot settle: its authorise-request has no STAN", problem);
        Assert.DoesNotContain(rig.Entries(), e => e is Recovered);
    }

    [Theory]
    [InlineData(nameof(FormatException))]
    [InlineData(nameof(OverflowException))]
    [InlineData(nameof(ArgumentException))]
    [InlineData(nameof(KeyNotFoundException))]
    [InlineData(nameof(NullReferenceException))]
    [InlineData(nameof(InvalidOperationException))]
    public async Task A_value_recovery_cannot_use_leaves_that_withdrawal_to_an_operator_and_settles_the_next(string fault)
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await AskedAsync(rig);
        await ApprovedAsync(rig);
        await rig.Journal.WriteAsync(DispenseStart(rig));
        await rig.Journal.WriteAsync(JournalSamples.Asked("s-2", 8, transmission: "1201100500"));
        var dispenser = new ScriptedDispenser(rig.Dispenser);
        Exception thrown = fault switch
        {
            nameof(FormatException) => new FormatException("bad counts"),
            nameof(OverflowException) => new OverflowException("bad counts"),
            nameof(ArgumentException) => new ArgumentException("bad counts"),
            nameof(KeyNotFoundException) => new KeyNotFoundException("bad counts"),
#pragma warning disable CA2201 // the runtime's own exception, as a journal value that is null where recovery needs one throws it
            nameof(NullReferenceException) => new NullReferenceException("bad counts"),
#pragma warning restore CA2201
            _ => new InvalidOperationException("bad counts"),
        };
        dispenser.Recover = () => Task.FromException<DispenseResult>(thrown);

        var (settled, recovery) = await RecoverAsync(rig, dispenser);

        Assert.Equal(1, settled); // s-2, reversed in full as a timeout
        Assert.Equal($"the journal {rig.Journal.Path} holds withdrawal s-1 (stan 7, line sequence 1) that recovery cannot settle: bad counts", Assert.Single(recovery.Unsettled));
        var reversal = rig.SingleReversal();
        Assert.Equal(("000008-1201100500", 8_000L, 0L, ReversalReasons.Timeout), (reversal.Id, reversal.AmountMinor, reversal.DispensedMinor, reversal.ReasonCode));
        Assert.Equal(300, rig.NotesLeft);
    }

    [Fact]
    public async Task A_device_fault_during_recovery_is_not_taken_for_a_bad_journal_value_and_stops_recovery()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await AskedAsync(rig);
        await ApprovedAsync(rig);
        await rig.Journal.WriteAsync(DispenseStart(rig));
        var dispenser = new ScriptedDispenser(rig.Dispenser) { Recover = () => Task.FromException<DispenseResult>(new IOException("dispenser offline")) };

        var error = await Assert.ThrowsAsync<IOException>(() => RecoverAsync(rig, dispenser));

        Assert.Equal("dispenser offline", error.Message);
        Assert.Empty(rig.Queue.Pending);
        Assert.DoesNotContain(rig.Entries(), e => e is Recovered);
    }

    [Fact]
    public async Task A_withdrawal_whose_request_segment_is_gone_is_skipped_not_guessed()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await AskedAsync(rig);
        rig.Time.Advance(TimeSpan.FromDays(1));
        await ApprovedAsync(rig); // a new day: a new segment whose header lists s-1 as open
        var closed = Assert.Single(ElectronicJournal.Segments(rig.Journal.Path), f => f != rig.Journal.Path);
        File.Delete(closed);
        using var journal = new ElectronicJournal(rig.Journal.Path, rig.Time);
        Assert.Contains(journal.ReadUnfinished(), e => e is AuthoriseAnswered { Session: Session });

        var recovery = new TerminalRecovery(journal, rig.Dispenser, rig.Forwarder, rig.Time, NullLogger.Instance);
        var settled = await recovery.RecoverAsync(CancellationToken.None);

        Assert.Equal((0, 0), (settled, recovery.Unsettled.Count));
        Assert.Empty(rig.Queue.Pending);
        Assert.Equal(300, rig.NotesLeft);
        Assert.DoesNotContain(journal.ReadAllEntries(), e => e is Recovered);
    }

    [Fact]
    public async Task Killed_after_a_clean_decline_records_the_decline_and_reverses_nothing()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await AskedAsync(rig);
        await rig.Journal.WriteAsync(JournalSamples.Answered(Session, Stan, ResponseCodes.DoNotHonour));

        var (settled, _) = await RecoverAsync(rig);

        Assert.Equal(1, settled);
        Assert.Empty(rig.Queue.Pending);
        Assert.Equal(300, rig.NotesLeft);
        var recovered = Assert.Single(rig.Entries().OfType<Recovered>());
        Assert.Equal(("declined by the host", new JournalAmount(0, "EUR"), "none needed"), (recovered.How, recovered.Presented, recovered.Reversal));
    }

    [Fact]
    public async Task Killed_after_an_approval_with_nothing_dispensed_reverses_in_full_and_says_so()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await AskedAsync(rig);
        await ApprovedAsync(rig);

        var (settled, _) = await RecoverAsync(rig);

        Assert.Equal(1, settled);
        var reversal = rig.SingleReversal();
        Assert.Equal((8_000L, 0L, ReversalReasons.AtmMalfunction, "recovery: approved but nothing was dispensed"), (reversal.AmountMinor, reversal.DispensedMinor, reversal.ReasonCode, reversal.Reason));
    }

    private static async Task<(int Settled, TerminalRecovery Recovery)> RecoverAsync(MoneyPathRig rig, ICashDispenser? dispenser = null)
    {
        var recovery = new TerminalRecovery(rig.Journal, dispenser ?? rig.Dispenser, rig.Forwarder, rig.Time, NullLogger.Instance);
        return (await recovery.RecoverAsync(CancellationToken.None), recovery);
    }

    private static Task<AuthoriseRequested> AskedAsync(MoneyPathRig rig) => rig.Journal.WriteAsync(JournalSamples.Asked(Session, Stan, transmission: Transmission));

    private static Task<AuthoriseAnswered> ApprovedAsync(MoneyPathRig rig) => rig.Journal.WriteAsync(JournalSamples.Answered(Session, Stan));

    private static DispenseStarted DispenseStart(MoneyPathRig rig, DeviceCounters? counters = null) =>
        JournalSamples.DispenseStart(Session, Stan, MoneyPathRig.Mix80, rig.Dispenser.CashUnits, counters, Transmission);

    /// <summary>A crash in Presenting: 80 EUR dispensed for real and waiting at the exit, present-start journalled.</summary>
    private static async Task PresentingAsync(MoneyPathRig rig)
    {
        await AskedAsync(rig);
        await ApprovedAsync(rig);
        await rig.Journal.WriteAsync(DispenseStart(rig));
        var result = await rig.Dispenser.DispenseAsync(MoneyPathRig.Mix80, CancellationToken.None);
        await rig.Journal.WriteAsync(JournalSamples.DispenseEnd(Session, Stan, result));
        await rig.Journal.WriteAsync(new PresentStarted(JournalAmount.Of(result.Presented), rig.Options.PresentTimeout, CanRetract: true) { Session = Session, Stan = Stan });
    }
}
