namespace CardlessAtm.Devices.Dispenser;

/// <summary>The condition of a cash unit, derived from its count, thresholds and flags.</summary>
public enum CashUnitStatus
{
    /// <summary>Present, usable, above its low threshold.</summary>
    Good,

    /// <summary>At or below its low threshold.</summary>
    Low,

    /// <summary>No notes left.</summary>
    Empty,

    /// <summary>The cassette is not in the dispenser.</summary>
    Missing,

    /// <summary>The device reported the cassette unusable.</summary>
    Inoperative,

    /// <summary>An operator locked it: never dispensed from.</summary>
    Locked,
}

/// <summary>Running counters of a cash unit since it was last replenished.</summary>
/// <param name="Presented">Notes that reached customers.</param>
/// <param name="Rejected">Notes that went to the reject tray.</param>
/// <param name="Unknown">Notes whose outcome is unknown (suspect), to be settled at reconciliation.</param>
/// <param name="Retracted">Notes presented but not taken, retracted into the retract bin (not back in the cassette, not in <paramref name="Presented"/>).</param>
public sealed record CashUnitCounters(int Presented = 0, int Rejected = 0, int Unknown = 0, int Retracted = 0)
{
    /// <summary>No notes counted yet.</summary>
    public static CashUnitCounters None { get; } = new();
}

/// <summary>
/// A cash unit (cassette) as the accounting sees it: what it holds and what has left it. Immutable
/// snapshot; the <c>CashDispenser</c> replaces it after every change.
/// </summary>
/// <param name="Id">Configured id, e.g. <c>CASS1</c>.</param>
/// <param name="Position">The dispenser position it sits in (1-based).</param>
/// <param name="Denomination">The value of one note.</param>
/// <param name="Count">Notes the accounting believes are in the cassette now.</param>
/// <param name="InitialCount">Notes loaded at the last replenishment.</param>
/// <param name="LowThreshold">At or below this count the unit is <see cref="CashUnitStatus.Low"/>.</param>
/// <param name="HighThreshold">Capacity, for replenishment checks.</param>
/// <param name="Counters">Presented, rejected and unknown notes since replenishment.</param>
/// <param name="IsPresent">Whether the cassette is in the dispenser (from its presence sensor, if any).</param>
/// <param name="IsLocked">Locked by an operator.</param>
/// <param name="IsInoperative">Reported unusable by the device.</param>
public sealed record CashUnit(
    string Id,
    int Position,
    Money Denomination,
    int Count,
    int InitialCount,
    int LowThreshold,
    int HighThreshold,
    CashUnitCounters Counters,
    bool IsPresent = true,
    bool IsLocked = false,
    bool IsInoperative = false)
{
    /// <summary>The unit's currency.</summary>
    public Currency Currency => Denomination.Currency;

    /// <summary>The unit's condition.</summary>
    public CashUnitStatus Status => this switch
    {
        { IsPresent: false } => CashUnitStatus.Missing,
        { IsLocked: true } => CashUnitStatus.Locked,
        { IsInoperative: true } => CashUnitStatus.Inoperative,
        { Count: <= 0 } => CashUnitStatus.Empty,
        _ when Count <= LowThreshold => CashUnitStatus.Low,
        _ => CashUnitStatus.Good,
    };

    /// <summary>Value of the notes it presented to customers since replenishment (for reconciliation).</summary>
    public Money PresentedValue => Denomination * Counters.Presented;

    /// <summary>Value of its notes in the retract bin since replenishment (for reconciliation).</summary>
    public Money RetractedValue => Denomination * Counters.Retracted;

    /// <summary>Whether notes may be taken from it now.</summary>
    public bool CanDispense => Status is CashUnitStatus.Good or CashUnitStatus.Low;
}

/// <summary>A cash unit id that is not configured.</summary>
public sealed class UnknownCashUnitException(string id, IEnumerable<string> known)
    : ArgumentException($"There is no cash unit '{id}'. Configured cash units: {string.Join(", ", known)}.")
{
    /// <summary>The id that was asked for.</summary>
    public string CashUnitId { get; } = id;
}
