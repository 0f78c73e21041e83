using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Devices.Simulated;
using CardlessAtm.Iso8583;
using CardlessAtm.Terminal.Flow;
using CardlessAtm.Terminal.Journal;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace CardlessAtm.Terminal.Tests.MoneyPath;

/// <summary>
/// Attacks on present / take / retract (issue 19): a device whose retract answers what no honest device should, and a
/// process killed inside the retract. Each test asserts the phone's code, the reversal queue and the cash-unit counts
/// (presented, retracted, unknown) with the device's retract bin, on fake time.
/// </summary>
public class PresentRetractAttackTests
{
    private static readonly Money Eur80 = Money.FromMajor(80, "EUR");

    [Theory]
    [InlineData(3, 1, 3, 1)] // one 50 was presented from position 3: "one 50, and one 50" is two
    [InlineData(3, 2, 3, 0)] // two 50s, one presented
    [InlineData(4, 3, 1, 0)] // a position with no cash unit
    public async Task A_retract_count_that_cannot_be_the_presented_notes_is_not_trusted_and_everything_presented_is_reversed_as_suspect(int position, int notes, int alsoPosition, int alsoNotes)
    {
        List<PositionCount> count = [new PositionCount(position, notes)];
        if (alsoNotes > 0)
        {
            count.Add(new PositionCount(alsoPosition, alsoNotes));
        }

        using var rig = await MoneyPathRig.CreateAsync(wrap: device => new RetractScriptedDevice(device) { Answer = new DeviceRetractResult(RetractCompletion.Ok, count) });
        rig.Device.Faults.NotesNotTaken = true;
        rig.Host.Answers(ResponseCodes.Approved);

        var settled = await rig.RunOnFakeTimeAsync(rig.WithdrawAsync());

        Assert.Equal((ResponseCodes.SystemMalfunction, (Money?)new Money(0, Eur80.Currency)), (settled.ResponseCode, settled.Presented));
        var reversal = rig.SingleReversal();
        Assert.Equal((8_000L, 0L, ReversalReasons.SuspectedMalfunction), (reversal.AmountMinor, reversal.DispensedMinor, reversal.ReasonCode));
        Assert.All(rig.Dispenser.CashUnits, u => Assert.Equal((99, 0, 0, 1), (u.Count, u.Counters.Presented, u.Counters.Retracted, u.Counters.Unknown)));
        var retracted = Assert.Single(rig.Entries().OfType<NotesRetracted>());
        Assert.Equal((8_000L, false), (retracted.Value.AmountMinor, retracted.Counted));
        Assert.Contains("does not match the dispense", retracted.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_retract_that_outlasts_the_dispense_timeout_reverses_the_notes_as_suspect_and_the_late_retract_lands_in_the_bin()
    {
        // The device pulls the notes in only after the terminal stopped waiting for it (Terminal:DispenseTimeout).
        var late = TimeSpan.FromSeconds(15);
        SimulatedDispenserDevice? simulated = null;
        FakeTimeProvider? clock = null;
        using var rig = await MoneyPathRig.CreateAsync(wrap: device =>
        {
            simulated = device;
            return new RetractScriptedDevice(device) { Before = () => Task.Delay(late, clock!) };
        });
        clock = rig.Time;
        rig.Device.Faults.NotesNotTaken = true;
        rig.Host.Answers(ResponseCodes.Approved);

        var settled = await rig.RunOnFakeTimeAsync(rig.WithdrawAsync());

        Assert.Equal((ResponseCodes.SystemMalfunction, (Money?)new Money(0, Eur80.Currency)), (settled.ResponseCode, settled.Presented));
        var reversal = rig.SingleReversal();
        Assert.Equal((8_000L, 0L, ReversalReasons.SuspectedMalfunction), (reversal.AmountMinor, reversal.DispensedMinor, reversal.ReasonCode));
        Assert.NotNull(rig.UnusableReason);
        Assert.Contains(rig.Entries(), e => e is NotesRetracted { Counted: false, Value.AmountMinor: 8_000 });
        Assert.DoesNotContain(rig.Entries(), e => e is NotesTaken);

        // The device finishes: its counts land in the retract bin, where the reversal already put the money.
        for (var i = 0; i < late.TotalSeconds && rig.Device.RetractBin == 0; i++)
        {
            rig.Time.Advance(TimeSpan.FromSeconds(1));
            await Task.Delay(20);
        }

        Assert.Equal((0, 3), (rig.Device.NotesAtExit, rig.Device.RetractBin));
        Assert.All(rig.Dispenser.CashUnits, u => Assert.Equal((99, 0, 1, 0), (u.Count, u.Counters.Presented, u.Counters.Retracted, u.Counters.Unknown)));
        Assert.Single(rig.Queue.Pending);
    }

    [Fact]
    public async Task A_retract_that_throws_operation_cancelled_on_its_own_counts_the_notes_as_taken_and_takes_the_atm_out_of_service()
    {
        using var rig = await MoneyPathRig.CreateAsync(wrap: device => new RetractScriptedDevice(device) { Before = () => Task.FromException(new TaskCanceledException("the device driver gave up")) });
        rig.Device.Faults.NotesNotTaken = true;
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
    public async Task An_exit_sensor_that_throws_operation_cancelled_on_its_own_counts_the_notes_as_taken_and_takes_the_atm_out_of_service()
    {
        using var rig = await MoneyPathRig.CreateAsync(wrap: device => new RetractScriptedDevice(device) { WaitFault = new OperationCanceledException("the sensor driver's own timeout") });
        rig.Host.Answers(ResponseCodes.Approved);

        var settled = await rig.WithdrawAsync();

        Assert.Equal((ResponseCodes.Approved, (Money?)Eur80), (settled.ResponseCode, settled.Presented));
        Assert.Empty(rig.Queue.Pending);
        Assert.All(rig.Dispenser.CashUnits, u => Assert.Equal((1, 0), (u.Counters.Presented, u.Counters.Retracted)));
        Assert.NotNull(rig.UnusableReason);
        Assert.Contains(rig.Entries(), e => e is NotesTaken taken && taken.How.Contains("exit sensor failed", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_late_take_signal_from_the_previous_withdrawal_does_not_count_as_the_next_customer_taking_the_notes()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        rig.Device.Faults.NotesNotTaken = true;
        rig.Host.Answers(ResponseCodes.Approved).Answers(ResponseCodes.Approved);
        var first = await rig.RunOnFakeTimeAsync(rig.WithdrawAsync());
        rig.Device.TakeNotes(); // the exit sensor bounces after the retract: "taken", for an exit already empty
        rig.Device.TakeNotes();

        var second = await rig.RunOnFakeTimeAsync(rig.WithdrawAsync());

        Assert.Equal((ResponseCodes.SystemMalfunction, ResponseCodes.SystemMalfunction), (first.ResponseCode, second.ResponseCode));
        Assert.Equal(2, rig.Queue.Pending.Count);
        Assert.All(rig.Queue.Pending, r => Assert.Equal((8_000L, 0L, ReversalReasons.NotesRetracted), (r.AmountMinor, r.DispensedMinor, r.ReasonCode)));
        Assert.All(rig.Dispenser.CashUnits, u => Assert.Equal((98, 0, 2, 0), (u.Count, u.Counters.Presented, u.Counters.Retracted, u.Counters.Unknown)));
        Assert.Equal((0, 6), (rig.Device.NotesAtExit, rig.Device.RetractBin));
        Assert.DoesNotContain(rig.Entries(), e => e is NotesTaken);
    }

    /// <summary>Process killed once the retract's counts are saved, before its <c>notes-retracted</c> line.</summary>
    [Fact]
    public async Task Killed_after_the_retract_saved_the_counts_and_before_its_journal_line_reverses_the_retracted_notes_once()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        rig.Device.Faults.NotesNotTaken = true;
        var killed = new KilledInRetract(rig.Dispenser, retractFirst: true);

        await KillAsync(rig, killed);
        Assert.Equal((0, 3), (rig.Device.NotesAtExit, rig.Device.RetractBin));

        Assert.Equal(1, await RecoverAsync(rig));
        Assert.Equal(0, await RecoverAsync(rig)); // a second start finds nothing left to settle

        var reversal = rig.SingleReversal();
        Assert.Equal((8_000L, 0L, ReversalReasons.NotesRetracted), (reversal.AmountMinor, reversal.DispensedMinor, reversal.ReasonCode));
        Assert.All(rig.Dispenser.CashUnits, u => Assert.Equal((99, 0, 1, 0), (u.Count, u.Counters.Presented, u.Counters.Retracted, u.Counters.Unknown)));
        Assert.Equal(3, rig.Device.RetractBin);
        Assert.Contains(rig.Entries(), e => e is Recovered { Reversal: "full" });
        Assert.DoesNotContain(rig.Entries(), e => e is NotesTaken);
    }

    /// <summary>Process killed once the device has pulled the notes in, before the counts were saved.</summary>
    [Fact]
    public async Task Killed_after_the_device_retracted_and_before_the_counts_were_saved_reverses_the_notes_as_suspect()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        rig.Device.Faults.NotesNotTaken = true;
        var killed = new KilledInRetract(rig.Dispenser, retractFirst: false) { DeviceRetract = () => rig.Device.RetractAsync(CancellationToken.None) };

        await KillAsync(rig, killed);
        Assert.Equal((0, 3), (rig.Device.NotesAtExit, rig.Device.RetractBin));
        Assert.All(rig.Dispenser.CashUnits, u => Assert.Equal((1, 0), (u.Counters.Presented, u.Counters.Retracted))); // nothing saved

        Assert.Equal(1, await RecoverAsync(rig));
        Assert.Equal(0, await RecoverAsync(rig));

        // The exit is empty, but the retract had begun: the customer may or may not have the notes. Never charged for
        // cash that may not have come out: reversed as suspect (22), the notes unknown until the retract bin is counted.
        var reversal = rig.SingleReversal();
        Assert.Equal((8_000L, 0L, ReversalReasons.SuspectedMalfunction), (reversal.AmountMinor, reversal.DispensedMinor, reversal.ReasonCode));
        Assert.All(rig.Dispenser.CashUnits, u => Assert.Equal((99, 0, 0, 1), (u.Count, u.Counters.Presented, u.Counters.Retracted, u.Counters.Unknown)));
        Assert.Contains(rig.Entries(), e => e is NotesRetracted { Counted: false, Value.AmountMinor: 8_000 });
        Assert.DoesNotContain(rig.Entries(), e => e is NotesTaken);
    }

    [Fact]
    public async Task Recovery_whose_exit_sensor_throws_settles_the_withdrawal_as_cannot_tell_instead_of_stopping_the_start()
    {
        using var rig = await MoneyPathRig.CreateAsync(wrap: device => new RetractScriptedDevice(device) { ExitFault = new IOException("exit sensor: no answer on the serial line") });
        rig.Device.Faults.NotesNotTaken = true;
        rig.Host.Answers(ResponseCodes.Approved);
        await rig.Journal.WriteAsync(JournalSamples.Asked("s-1", 7));
        await rig.Journal.WriteAsync(JournalSamples.Answered("s-1", 7));
        await rig.Journal.WriteAsync(JournalSamples.DispenseStart("s-1", 7, MoneyPathRig.Mix80, rig.Dispenser.CashUnits));
        var result = await rig.Dispenser.DispenseAsync(MoneyPathRig.Mix80, CancellationToken.None);
        await rig.Journal.WriteAsync(JournalSamples.DispenseEnd("s-1", 7, result));
        await rig.Journal.WriteAsync(new PresentStarted(JournalAmount.Of(result.Presented), rig.Options.PresentTimeout, CanRetract: true) { Session = "s-1", Stan = 7 });

        Assert.Equal(1, await RecoverAsync(rig));

        Assert.Empty(rig.Queue.Pending);
        Assert.All(rig.Dispenser.CashUnits, u => Assert.Equal((99, 1, 0, 0), (u.Count, u.Counters.Presented, u.Counters.Retracted, u.Counters.Unknown)));
        Assert.Contains(rig.Entries(), e => e is NotesTaken taken && taken.How.Contains("cannot tell", StringComparison.Ordinal) && taken.How.Contains("IOException", StringComparison.Ordinal));
        Assert.Contains(rig.Entries(), e => e is Recovered { Reversal: "none needed" });
    }

    private static (int Presented, int Retracted, int Unknown) Counters(MoneyPathRig rig, string unit)
    {
        var counters = rig.Dispenser.CashUnits.Single(u => u.Id == unit).Counters;
        return (counters.Presented, counters.Retracted, counters.Unknown);
    }

    private static Task<int> RecoverAsync(MoneyPathRig rig) =>
        new TerminalRecovery(rig.Journal, rig.Dispenser, rig.Forwarder, rig.Time, NullLogger.Instance).RecoverAsync(CancellationToken.None);

    /// <summary>Runs a withdrawal over <paramref name="killed"/> on fake time until the process "dies" inside the retract.</summary>
    private static async Task KillAsync(MoneyPathRig rig, KilledInRetract killed)
    {
        rig.Host.Answers(ResponseCodes.Approved);
        var transaction = new WithdrawalTransaction(rig.Host, killed, rig.Forwarder, rig.Journal, rig.Options, rig.Metrics, rig.Time, NullLogger.Instance);
        var withdrawal = transaction.RunAsync("session-1", Eur80, MoneyPathRig.Mix80, MoneyPathRig.PhoneRequest(), rig.Host.NextStan(), Task.FromResult(false), CancellationToken.None);
        for (var second = 0; !killed.Killed.IsCompleted && second < 2 * rig.Options.PresentTimeout.TotalSeconds; second++)
        {
            await Task.WhenAny(killed.Killed, withdrawal, Task.Delay(20));
            if (!killed.Killed.IsCompleted)
            {
                rig.Time.Advance(TimeSpan.FromSeconds(1));
            }
        }

        await killed.Killed.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(withdrawal.IsCompleted, "the withdrawal went on after the kill");
    }


    /// <summary>
    /// The rig's cash dispenser whose retract is where the process dies: with <c>retractFirst</c> after the real retract
    /// (device moved, counts saved), otherwise after <see cref="DeviceRetract"/> alone (device moved, nothing saved).
    /// The retract then never returns, as a killed process never goes on.
    /// </summary>
    private sealed class KilledInRetract(CashDispenser inner, bool retractFirst) : ICashDispenser
    {
        private readonly TaskCompletionSource _killed = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Func<Task>? DeviceRetract { get; init; }

        public Task Killed => _killed.Task;

        public DispenserStatus Status => inner.Status;

        public IReadOnlyList<CashUnit> CashUnits => inner.CashUnits;

        public int MaxNotesPerDispense => inner.MaxNotesPerDispense;

        public PresentCapability Presenting => inner.Presenting;

        public MixResult Denominate(Money amount) => inner.Denominate(amount);

        public Task<DispenseResult> DispenseAsync(Mix mix, CancellationToken cancellationToken) => inner.DispenseAsync(mix, cancellationToken);

        public Task<DispenseResult> ResetAsync(CancellationToken cancellationToken) => inner.ResetAsync(cancellationToken);

        public Task<DispenseResult> RecoverInterruptedDispenseAsync(Mix mix, IReadOnlyDictionary<string, int> countsBefore, IReadOnlyList<PositionMovement>? moved, CancellationToken cancellationToken) =>
            inner.RecoverInterruptedDispenseAsync(mix, countsBefore, moved, cancellationToken);

        public Task<DeviceCounters?> ReadDeviceCountersAsync(CancellationToken cancellationToken) => inner.ReadDeviceCountersAsync(cancellationToken);

        public Task RefreshStatusAsync(CancellationToken cancellationToken) => inner.RefreshStatusAsync(cancellationToken);

        public Task ReplenishAsync(string cashUnitId, int count, CancellationToken cancellationToken) => inner.ReplenishAsync(cashUnitId, count, cancellationToken);

        public Task SetLockedAsync(string cashUnitId, bool locked, CancellationToken cancellationToken) => inner.SetLockedAsync(cashUnitId, locked, cancellationToken);

        public Task WaitForTakenAsync(CancellationToken cancellationToken) => inner.WaitForTakenAsync(cancellationToken);

        public Task<ExitState> ReadExitAsync(CancellationToken cancellationToken) => inner.ReadExitAsync(cancellationToken);

        public async Task<RetractResult> RetractAsync(IReadOnlyList<UnitMovement> presented, CancellationToken cancellationToken)
        {
            if (_killed.Task.IsCompleted)
            {
                return await inner.RetractAsync(presented, cancellationToken); // the next run (recovery) is alive
            }

            if (retractFirst)
            {
                await inner.RetractAsync(presented, cancellationToken);
            }
            else if (DeviceRetract is { } device)
            {
                await device();
            }

            _killed.SetResult();
            await Task.Delay(Timeout.Infinite, CancellationToken.None);
            throw new InvalidOperationException("unreachable");
        }
    }
}
