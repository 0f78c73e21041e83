namespace CardlessAtm.Devices.Dispenser;

/// <summary>
/// The optional present/take/retract capability of a dispenser (XFS4IoT's Present and Retract as the model, without
/// their fat interface): a device with an exit sensor or shutter says when the customer has taken the notes, and
/// one with a retract path pulls notes left at the exit into its retract bin. A device that does not implement this
/// interface dispenses and stops: its notes count as presented the moment they reach the exit.
/// </summary>
public interface IPresentingDispenserDevice : IDispenserDevice
{
    /// <summary>What this device can tell and do at the exit.</summary>
    PresentCapability Presenting { get; }

    /// <summary>
    /// Completes when the customer has taken the notes at the exit (the exit sensor is clear, or the shutter has
    /// closed on an empty exit). Never completes while notes are still there: the caller bounds the wait with the
    /// cancellation token and cancels it at <c>Terminal:PresentTimeout</c>.
    /// </summary>
    /// <exception cref="OperationCanceledException">The wait was cancelled before the notes were taken.</exception>
    Task WaitForTakenAsync(CancellationToken cancellationToken);

    /// <summary>What the exit holds now (for recovery after a crash while presenting).</summary>
    Task<ExitState> ReadExitAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Pulls the notes left at the exit into the retract bin. Never throws for a device fault: a retract that failed
    /// is a result, and one that worked but could not count says so (<see cref="DeviceRetractResult.Retracted"/> null).
    /// </summary>
    Task<DeviceRetractResult> RetractAsync(CancellationToken cancellationToken);
}

/// <summary>What a dispenser can tell and do at its exit.</summary>
/// <param name="DetectsTaken">It can tell when the customer has taken the notes (exit sensor or shutter).</param>
/// <param name="CanRetract">It can pull notes left at the exit into a retract bin.</param>
/// <param name="CountsRetracted">It can say how many notes, of which position, it retracted.</param>
public sealed record PresentCapability(bool DetectsTaken, bool CanRetract, bool CountsRetracted)
{
    /// <summary>A device that dispenses and stops: no exit sensor, no retract.</summary>
    public static PresentCapability None { get; } = new(false, false, false);

    /// <summary>The capability of <paramref name="device"/>: its own when it presents, otherwise <see cref="None"/>.</summary>
    public static PresentCapability Of(IDispenserDevice device) => device is IPresentingDispenserDevice presenting ? presenting.Presenting : None;

    /// <summary>For <c>devices status</c>: what the terminal does with notes left at the exit on this device.</summary>
    public string Describe() => this switch
    {
        { DetectsTaken: false } => "no exit sensor: notes count as taken when presented (no wait, no retract)",
        { CanRetract: false } => "detects notes taken; cannot retract: notes left at the exit count as taken",
        { CountsRetracted: false } => "detects notes taken; retracts after Terminal:PresentTimeout without counting (reversed as suspect)",
        _ => "detects notes taken; retracts and counts after Terminal:PresentTimeout (retracted notes reversed)",
    };
}

/// <summary>What the exit holds.</summary>
public enum ExitState
{
    /// <summary>The device cannot tell.</summary>
    Unknown,

    /// <summary>Nothing at the exit.</summary>
    Empty,

    /// <summary>Notes are waiting at the exit.</summary>
    NotesPresent,
}

/// <summary>How a retract ended.</summary>
public enum RetractCompletion
{
    /// <summary>The notes at the exit are in the retract bin.</summary>
    Ok,

    /// <summary>The exit was empty: the customer took the notes after all.</summary>
    NothingToRetract,

    /// <summary>The retract failed; the notes may still be at the exit.</summary>
    Failed,
}

/// <summary>A retract at the device level.</summary>
/// <param name="Completion">How it ended.</param>
/// <param name="Retracted">Notes retracted per position (1-based), or null when the device retracted but cannot count them.</param>
/// <param name="DeviceCode">The device's own error code, if any.</param>
/// <param name="Detail">Technician text (never customer-facing, never secret).</param>
public sealed record DeviceRetractResult(RetractCompletion Completion, IReadOnlyList<PositionCount>? Retracted, string? DeviceCode = null, string? Detail = null);
