using CardlessAtm.Devices.Dispenser;

namespace CardlessAtm.Terminal.Tests.MoneyPath;

/// <summary>
/// The rig's real cash dispenser with its exit scripted: what the exit sensor and the retract answer (a retract that
/// finds an empty exit, fails with a device code, throws), or an exit sensor that throws. Unset hooks delegate, so the
/// counts move as the real dispenser moves them.
/// </summary>
internal sealed class ExitScriptedDispenser(ICashDispenser inner) : ICashDispenser
{
    /// <summary>Replaces <see cref="Presenting"/>.</summary>
    public PresentCapability? Capability { get; set; }

    /// <summary>Replaces <see cref="WaitForTakenAsync"/>.</summary>
    public Func<CancellationToken, Task>? WaitForTaken { get; set; }

    /// <summary>Replaces <see cref="ReadExitAsync"/> with a fixed answer.</summary>
    public ExitState? Exit { get; set; }

    /// <summary>Replaces <see cref="ReadExitAsync"/> (over <see cref="Exit"/>), e.g. with one that throws.</summary>
    public Func<CancellationToken, Task<ExitState>>? ReadExit { get; set; }

    /// <summary>How often the exit was read.</summary>
    public int ExitReads { get; private set; }

    /// <summary>Replaces <see cref="RecoverInterruptedRetractAsync"/>.</summary>
    public Func<IReadOnlyList<UnitMovement>, CancellationToken, Task<RetractResult>>? RecoverRetract { get; set; }

    /// <summary>What each recovery of an interrupted retract was asked to mark.</summary>
    public List<IReadOnlyList<UnitMovement>> RecoverRetractCalls { get; } = [];

    /// <summary>Replaces <see cref="RetractAsync"/>.</summary>
    public Func<IReadOnlyList<UnitMovement>, Task<RetractResult>>? Retract { get; set; }

    /// <summary>What each retract was asked to retract.</summary>
    public List<IReadOnlyList<UnitMovement>> Retracts { get; } = [];

    public DispenserStatus Status => inner.Status;

    public IReadOnlyList<CashUnit> CashUnits => inner.CashUnits;

    public int MaxNotesPerDispense => inner.MaxNotesPerDispense;

    public PresentCapability Presenting => Capability ?? inner.Presenting;

    public MixResult Denominate(Money amount) => inner.Denominate(amount);

    public Task<DispenseResult> DispenseAsync(Mix mix, CancellationToken cancellationToken) => inner.DispenseAsync(mix, cancellationToken);

    public Task<DispenseResult> ResetAsync(CancellationToken cancellationToken) => inner.ResetAsync(cancellationToken);

    public Task<DispenseResult> RecoverInterruptedDispenseAsync(Mix mix, IReadOnlyDictionary<string, int> countsBefore, IReadOnlyList<PositionMovement>? moved, CancellationToken cancellationToken) =>
        inner.RecoverInterruptedDispenseAsync(mix, countsBefore, moved, cancellationToken);

    public Task<DeviceCounters?> ReadDeviceCountersAsync(CancellationToken cancellationToken) => inner.ReadDeviceCountersAsync(cancellationToken);

    public Task RefreshStatusAsync(CancellationToken cancellationToken) => inner.RefreshStatusAsync(cancellationToken);

    public Task ReplenishAsync(string cashUnitId, int count, CancellationToken cancellationToken) => inner.ReplenishAsync(cashUnitId, count, cancellationToken);

    public Task SetLockedAsync(string cashUnitId, bool locked, CancellationToken cancellationToken) => inner.SetLockedAsync(cashUnitId, locked, cancellationToken);

    public Task WaitForTakenAsync(CancellationToken cancellationToken) => WaitForTaken is { } wait ? wait(cancellationToken) : inner.WaitForTakenAsync(cancellationToken);

    public Task<ExitState> ReadExitAsync(CancellationToken cancellationToken)
    {
        ExitReads++;
        return ReadExit is { } read ? read(cancellationToken) : Exit is { } exit ? Task.FromResult(exit) : inner.ReadExitAsync(cancellationToken);
    }

    public Task<RetractResult> RetractAsync(IReadOnlyList<UnitMovement> presented, CancellationToken cancellationToken)
    {
        Retracts.Add(presented);
        return Retract is { } retract ? retract(presented) : inner.RetractAsync(presented, cancellationToken);
    }

    // Forwarded, not left to the interface's default (which answers Failed): the real dispenser marks the notes.
    public Task<RetractResult> RecoverInterruptedRetractAsync(IReadOnlyList<UnitMovement> presented, CancellationToken cancellationToken)
    {
        RecoverRetractCalls.Add(presented);
        return RecoverRetract is { } recover ? recover(presented, cancellationToken) : inner.RecoverInterruptedRetractAsync(presented, cancellationToken);
    }
}
