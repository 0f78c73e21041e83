using CardlessAtm.Devices.Dispenser;

namespace CardlessAtm.Terminal.Tests.MoneyPath;

/// <summary>
/// The rig's real cash dispenser with hooks a test sets to make one call hang, throw or answer what the device
/// could answer (no counters, counters that vanish, a crash in the middle of a dispense). Unset hooks delegate.
/// </summary>
internal sealed class ScriptedDispenser(ICashDispenser inner) : ICashDispenser
{
    /// <summary>Replaces <see cref="DispenseAsync"/>; the real dispenser is the argument.</summary>
    public Func<Mix, ICashDispenser, Task<DispenseResult>>? Dispense { get; set; }

    /// <summary>Each device-counter read takes the next of these; when none is left, the device is read.</summary>
    public Queue<Func<Task<DeviceCounters?>>> CounterReads { get; } = new();

    /// <summary>Replaces <see cref="RecoverInterruptedDispenseAsync"/>.</summary>
    public Func<Task<DispenseResult>>? Recover { get; set; }

    /// <summary>How many times the mechanism was reset.</summary>
    public int Resets { get; private set; }

    /// <summary>What each recovery of an interrupted dispense was told had moved (null: the device could not say).</summary>
    public List<IReadOnlyList<PositionMovement>?> RecoveredMoves { get; } = [];

    public DispenserStatus Status => inner.Status;

    public IReadOnlyList<CashUnit> CashUnits => inner.CashUnits;

    public int MaxNotesPerDispense => inner.MaxNotesPerDispense;

    public MixResult Denominate(Money amount) => inner.Denominate(amount);

    public Task<DispenseResult> DispenseAsync(Mix mix, CancellationToken cancellationToken) =>
        Dispense is { } dispense ? dispense(mix, inner) : inner.DispenseAsync(mix, cancellationToken);

    public Task<DispenseResult> ResetAsync(CancellationToken cancellationToken)
    {
        Resets++;
        return inner.ResetAsync(cancellationToken);
    }

    public Task<DispenseResult> RecoverInterruptedDispenseAsync(Mix mix, IReadOnlyDictionary<string, int> countsBefore, IReadOnlyList<PositionMovement>? moved, CancellationToken cancellationToken)
    {
        RecoveredMoves.Add(moved);
        return Recover is { } recover ? recover() : inner.RecoverInterruptedDispenseAsync(mix, countsBefore, moved, cancellationToken);
    }

    public Task<DeviceCounters?> ReadDeviceCountersAsync(CancellationToken cancellationToken) =>
        CounterReads.TryDequeue(out var read) ? read() : inner.ReadDeviceCountersAsync(cancellationToken);

    public Task RefreshStatusAsync(CancellationToken cancellationToken) => inner.RefreshStatusAsync(cancellationToken);

    public Task ReplenishAsync(string cashUnitId, int count, CancellationToken cancellationToken) => inner.ReplenishAsync(cashUnitId, count, cancellationToken);

    public Task SetLockedAsync(string cashUnitId, bool locked, CancellationToken cancellationToken) => inner.SetLockedAsync(cashUnitId, locked, cancellationToken);
}
