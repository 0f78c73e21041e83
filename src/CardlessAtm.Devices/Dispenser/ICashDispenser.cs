namespace CardlessAtm.Devices.Dispenser;

/// <summary>
/// The cash dispenser as the terminal sees it: cash units in money, denomination, dispensing with
/// exact accounting. Implemented once, by <see cref="CashDispenser"/>, over any <see cref="IDispenserDevice"/>.
/// </summary>
public interface ICashDispenser
{
    /// <summary>The device's status.</summary>
    DispenserStatus Status { get; }

    /// <summary>A snapshot of every configured cash unit.</summary>
    IReadOnlyList<CashUnit> CashUnits { get; }

    /// <summary>Most notes one dispense may present.</summary>
    int MaxNotesPerDispense { get; }

    /// <summary>Finds a mix for the amount with the configured algorithm, over the units usable now. Changes nothing.</summary>
    MixResult Denominate(Money amount);

    /// <summary>
    /// Dispenses a mix and presents it, updating the cash-unit counts with exactly what moved. Device
    /// faults are results, not exceptions.
    /// </summary>
    /// <exception cref="UnknownCashUnitException">The mix names a cash unit that is not configured.</exception>
    /// <exception cref="InvalidMixException">The mix does not fit the units (currency, position, more notes than held, over the limit).</exception>
    Task<DispenseResult> DispenseAsync(Mix mix, CancellationToken cancellationToken);

    /// <summary>Resets the mechanism (notes in the transport go to the reject tray and are counted as rejected).</summary>
    Task<DispenseResult> ResetAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Recovery after a crash mid-dispense: applies to the counts what the device's own counters say moved
    /// during the interrupted dispense (or, when the device keeps no counters, marks the requested notes
    /// unknown), exactly once — nothing is applied when the counts already differ from the snapshot taken
    /// before the dispense (the outcome was recorded before the crash).
    /// </summary>
    /// <param name="mix">The interrupted dispense's mix.</param>
    /// <param name="countsBefore">Cash-unit counts (by id) journalled just before the dispense.</param>
    /// <param name="moved">What the device's counters say moved since then, or null if the device cannot tell.</param>
    /// <param name="cancellationToken">Cancels saving.</param>
    /// <returns>The dispense as recovered: presented notes certain only when the device could tell.</returns>
    Task<DispenseResult> RecoverInterruptedDispenseAsync(Mix mix, IReadOnlyDictionary<string, int> countsBefore, IReadOnlyList<PositionMovement>? moved, CancellationToken cancellationToken);

    /// <summary>The device's own lifetime counters (see <see cref="IDispenserDevice.ReadCountersAsync"/>), or null if it keeps none.</summary>
    Task<DeviceCounters?> ReadDeviceCountersAsync(CancellationToken cancellationToken);

    /// <summary>Asks the device for its current status.</summary>
    Task RefreshStatusAsync(CancellationToken cancellationToken);

    /// <summary>Replenishment: sets a unit's count and initial count, clearing its counters.</summary>
    /// <exception cref="UnknownCashUnitException">No such unit.</exception>
    /// <exception cref="ArgumentOutOfRangeException">Negative count or over the unit's capacity.</exception>
    Task ReplenishAsync(string cashUnitId, int count, CancellationToken cancellationToken);

    /// <summary>Locks or unlocks a unit (a locked unit is never dispensed from).</summary>
    /// <exception cref="UnknownCashUnitException">No such unit.</exception>
    Task SetLockedAsync(string cashUnitId, bool locked, CancellationToken cancellationToken);

    /// <summary>What the device can tell and do at its exit (<see cref="PresentCapability.None"/> for a device that dispenses and stops).</summary>
    PresentCapability Presenting => PresentCapability.None;

    /// <summary>
    /// Completes when the customer has taken the presented notes; the caller bounds it with the token. On a device that
    /// cannot tell (<see cref="PresentCapability.DetectsTaken"/> false) it completes at once: the notes count as taken.
    /// </summary>
    /// <exception cref="OperationCanceledException">Cancelled before the notes were taken.</exception>
    Task WaitForTakenAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>What the exit holds now (<see cref="ExitState.Unknown"/> when the device cannot tell).</summary>
    Task<ExitState> ReadExitAsync(CancellationToken cancellationToken) => Task.FromResult(ExitState.Unknown);

    /// <summary>
    /// Retracts the notes left at the exit into the retract bin and applies it to the counts before returning: each
    /// retracted note moves from the unit's Presented counter to its Retracted counter (it is not back in the cassette).
    /// When the device retracted but cannot count, the notes of <paramref name="presented"/> move from Presented to
    /// Unknown (suspect, settled at the cash count). A failed retract, or a device that cannot retract, changes nothing.
    /// </summary>
    /// <param name="presented">What the dispense being retracted presented, per cash unit.</param>
    /// <param name="cancellationToken">Cancels waiting; a retract already started is still reported as it ended.</param>
    Task<RetractResult> RetractAsync(IReadOnlyList<UnitMovement> presented, CancellationToken cancellationToken) =>
        Task.FromResult(new RetractResult(RetractCompletion.Failed, [], false, null, "this dispenser cannot retract"));

    /// <summary>
    /// Recovery after a crash inside a retract whose outcome the saved counts do not show (the device may have pulled the
    /// notes in, or the customer may have taken them at the last moment): the notes of <paramref name="presented"/> move
    /// from Presented to Unknown (suspect, settled when the retract bin is counted) and the counts are saved, as for a
    /// retract that could not count. Returns the uncounted retract; <see cref="RetractCompletion.Failed"/> when this
    /// dispenser keeps no such counts (nothing changed).
    /// </summary>
    /// <param name="presented">What the dispense being retracted presented, per cash unit.</param>
    /// <param name="cancellationToken">Cancels waiting for the dispenser.</param>
    Task<RetractResult> RecoverInterruptedRetractAsync(IReadOnlyList<UnitMovement> presented, CancellationToken cancellationToken) =>
        Task.FromResult(new RetractResult(RetractCompletion.Failed, [], false, null, "this dispenser keeps no cash-unit counts to mark"));
}

/// <summary>Notes of one cash unit that a retract moved into the retract bin (or, uncounted, to Unknown).</summary>
/// <param name="CashUnitId">The unit the notes came from.</param>
/// <param name="Denomination">Value of one of its notes.</param>
/// <param name="Notes">How many.</param>
public sealed record UnitRetract(string CashUnitId, Money Denomination, int Notes)
{
    /// <summary>Their value.</summary>
    public Money Value => Denomination * Notes;
}

/// <summary>A retract in money terms.</summary>
/// <param name="Completion">How it ended.</param>
/// <param name="Units">Counted: the notes now in the retract bin, per unit. Not counted: the presented notes now counted unknown.</param>
/// <param name="Counted">Whether the device said what it retracted.</param>
/// <param name="DeviceCode">The device's own error code, if any.</param>
/// <param name="Detail">Technician text (never secret, never customer-facing).</param>
public sealed record RetractResult(RetractCompletion Completion, IReadOnlyList<UnitRetract> Units, bool Counted, string? DeviceCode = null, string? Detail = null)
{
    /// <summary>The value of <see cref="Units"/> in <paramref name="currency"/> (retracted when counted, suspect when not).</summary>
    public Money ValueIn(Currency currency) => Units.Aggregate(new Money(0, currency), (sum, u) => sum + u.Value);
}

/// <summary>What moved from one cash unit during a dispense.</summary>
/// <param name="CashUnitId">The unit.</param>
/// <param name="Denomination">Value of one of its notes.</param>
/// <param name="Presented">Notes that reached the customer.</param>
/// <param name="Rejected">Notes that went to the reject tray.</param>
/// <param name="Unknown">Notes with unknown outcome (suspect).</param>
public sealed record UnitMovement(string CashUnitId, Money Denomination, int Presented, int Rejected, int Unknown);

/// <summary>A dispense outcome in money terms.</summary>
/// <param name="Completion">How it ended.</param>
/// <param name="Requested">The amount asked for.</param>
/// <param name="Movements">Exactly what moved, per cash unit.</param>
/// <param name="DeviceCode">The device's own error code, if any.</param>
/// <param name="Detail">Technician text (never secret, never customer-facing).</param>
public sealed record DispenseResult(DispenseCompletion Completion, Money Requested, IReadOnlyList<UnitMovement> Movements, string? DeviceCode = null, string? Detail = null)
{
    /// <summary>The value that reached the customer.</summary>
    public Money Presented => Movements.Aggregate(new Money(0, Requested.Currency), (sum, m) => sum + (m.Denomination * m.Presented));

    /// <summary>Whether some notes have an unknown outcome, so the presented value is a lower bound.</summary>
    public bool HasUnknown => Movements.Any(m => m.Unknown > 0);

    /// <summary>Whether everything requested was presented.</summary>
    public bool IsComplete => Completion == DispenseCompletion.Ok && Presented == Requested;
}

/// <summary>A mix that does not fit the configured cash units.</summary>
public sealed class InvalidMixException(string message) : ArgumentException(message);
