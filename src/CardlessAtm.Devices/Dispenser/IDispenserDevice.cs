using CardlessAtm.Devices.Status;

namespace CardlessAtm.Devices.Dispenser;

/// <summary>
/// The vendor layer of a cash dispenser: what a driver for one model (LCDM-2000, a simulator, …)
/// implements. It knows cassette <em>positions</em> and note counts only — no currencies, no money,
/// no persistence. The <c>CashDispenser</c> framework layer above it validates requests,
/// denominates, keeps the cash-unit accounting and persists it.
/// </summary>
public interface IDispenserDevice
{
    /// <summary>The device's fixed properties.</summary>
    DispenserDeviceInfo Info { get; }

    /// <summary>The device's status (raises change events only on change).</summary>
    DispenserStatus Status { get; }

    /// <summary>
    /// Picks the given number of notes from each position and presents them to the customer.
    /// Never throws for a device fault: every outcome, including a timeout with unknown result, is a
    /// <see cref="DeviceDispenseResult"/> that says exactly what moved per position.
    /// </summary>
    /// <param name="notesPerPosition">Notes to pick per cassette position (1-based); at most
    /// <see cref="DispenserDeviceInfo.MaxNotesPerDispense"/> in total. The driver splits into as many
    /// device commands as the hardware needs.</param>
    /// <param name="cancellationToken">Cancels waiting; a dispense already started on the device is
    /// still reported as it ended (or as unknown).</param>
    Task<DeviceDispenseResult> DispenseAsync(IReadOnlyList<PositionCount> notesPerPosition, CancellationToken cancellationToken);

    /// <summary>Asks the device for its sensors and updates <see cref="Status"/>.</summary>
    Task<DeviceDispenseResult?> RefreshStatusAsync(CancellationToken cancellationToken);

    /// <summary>Resets the mechanism, purging notes left in the transport into the reject tray.</summary>
    Task<DeviceDispenseResult> ResetAsync(CancellationToken cancellationToken);

    /// <summary>
    /// The device's own lifetime counters, which survive a crash of this process, or null when the device
    /// keeps none. Recovery after a crash mid-dispense compares them with the snapshot journalled before
    /// the dispense to learn exactly what was presented.
    /// </summary>
    Task<DeviceCounters?> ReadCountersAsync(CancellationToken cancellationToken) => Task.FromResult<DeviceCounters?>(null);
}

/// <summary>A device's lifetime note counters per position.</summary>
/// <param name="Positions">Per position: notes presented and rejected since the counters began.</param>
public sealed record DeviceCounters(IReadOnlyList<PositionMovement> Positions)
{
    /// <summary>What moved between an earlier snapshot and this one, per position.</summary>
    public IReadOnlyList<PositionMovement> Since(DeviceCounters earlier)
    {
        ArgumentNullException.ThrowIfNull(earlier);
        var before = earlier.Positions.ToDictionary(p => p.Position);
        return [.. Positions.Select(now =>
        {
            var then = before.GetValueOrDefault(now.Position, new PositionMovement(now.Position, 0, 0, 0));
            return new PositionMovement(now.Position, now.Presented - then.Presented, now.Rejected - then.Rejected, now.Unknown - then.Unknown);
        }).Where(m => m.Picked != 0)];
    }
}

/// <summary>Fixed properties of a dispenser model.</summary>
/// <param name="Model">Model name, e.g. <c>Puloon LCDM-2000</c>.</param>
/// <param name="Positions">Number of cassette positions.</param>
/// <param name="MaxNotesPerDispense">Most notes one dispense may present in total.</param>
/// <param name="Firmware">Firmware version reported by the device, if known.</param>
public sealed record DispenserDeviceInfo(string Model, int Positions, int MaxNotesPerDispense, string? Firmware = null);

/// <summary>A note count for one cassette position (1-based).</summary>
public readonly record struct PositionCount(int Position, int Notes);

/// <summary>What moved from one cassette position during a dispense.</summary>
/// <param name="Position">Cassette position (1-based).</param>
/// <param name="Presented">Notes that reached the customer.</param>
/// <param name="Rejected">Notes that went to the reject tray.</param>
/// <param name="Unknown">Notes whose whereabouts the device cannot tell (e.g. after a timeout): suspect, never guessed.</param>
public readonly record struct PositionMovement(int Position, int Presented, int Rejected, int Unknown)
{
    /// <summary>Notes that left the cassette.</summary>
    public int Picked => Presented + Rejected + Unknown;
}

/// <summary>A dispense outcome at the device level.</summary>
/// <param name="Completion">How it ended.</param>
/// <param name="Movements">Exactly what moved, per position that was asked for or moved.</param>
/// <param name="DeviceCode">The device's own error code, if any (for the journal and the technician).</param>
/// <param name="Detail">A log text for the technician (never customer-facing, never secret).</param>
public sealed record DeviceDispenseResult(DispenseCompletion Completion, IReadOnlyList<PositionMovement> Movements, string? DeviceCode = null, string? Detail = null)
{
    /// <summary>Notes presented to the customer in total.</summary>
    public int TotalPresented => Movements.Sum(m => m.Presented);

    /// <summary>Whether any note has an unknown outcome.</summary>
    public bool HasUnknown => Movements.Any(m => m.Unknown > 0);
}

/// <summary>How a dispense ended.</summary>
public enum DispenseCompletion
{
    /// <summary>Every requested note was presented.</summary>
    Ok,

    /// <summary>Some notes were presented, not all; the movements say which.</summary>
    Partial,

    /// <summary>A note jammed in the transport.</summary>
    Jam,

    /// <summary>A cassette ran out of notes.</summary>
    CassetteEmpty,

    /// <summary>A cassette is missing or not recognised.</summary>
    CassetteMissing,

    /// <summary>Notes could not be picked (pickup error, too many rejects).</summary>
    PickFailure,

    /// <summary>The shutter did not open or close.</summary>
    ShutterFault,

    /// <summary>The device did not answer in time; the outcome may be unknown.</summary>
    Timeout,

    /// <summary>Any other hardware fault (sensor, motor, communication).</summary>
    HardwareError,

    /// <summary>The request was refused before anything moved (bad positions or counts).</summary>
    InvalidRequest,
}

/// <summary>Whether the dispenser can work.</summary>
public enum DispenserCondition
{
    /// <summary>Ready.</summary>
    Ok,

    /// <summary>Working but needs attention (e.g. a cassette low, reject tray nearly full).</summary>
    Attention,

    /// <summary>Cannot dispense.</summary>
    Stop,
}

/// <summary>State of the cash exit shutter.</summary>
public enum ShutterState
{
    /// <summary>This dispenser has no shutter sensor.</summary>
    NotAvailable,

    /// <summary>Closed.</summary>
    Closed,

    /// <summary>Open.</summary>
    Open,

    /// <summary>Stuck.</summary>
    Jammed,
}

/// <summary>Whether notes are left in the transport path.</summary>
public enum TransportState
{
    /// <summary>This dispenser cannot tell.</summary>
    NotAvailable,

    /// <summary>No notes in the transport.</summary>
    Empty,

    /// <summary>Notes are left in the transport.</summary>
    NotEmpty,
}

/// <summary>Status of a dispenser device.</summary>
public sealed class DispenserStatus(string deviceName) : DeviceStatus(deviceName)
{
    private DispenserCondition _dispenser = DispenserCondition.Stop;
    private ShutterState _shutter = ShutterState.NotAvailable;
    private TransportState _transport = TransportState.NotAvailable;
    private string? _lastFault;

    /// <summary>Ok, attention or stop.</summary>
    public DispenserCondition Dispenser { get => _dispenser; set => Set(ref _dispenser, value); }

    /// <summary>The exit shutter.</summary>
    public ShutterState Shutter { get => _shutter; set => Set(ref _shutter, value); }

    /// <summary>Notes in the transport.</summary>
    public TransportState Transport { get => _transport; set => Set(ref _transport, value); }

    /// <summary>The last fault the device reported (technician text), or null.</summary>
    public string? LastFault { get => _lastFault; set => Set(ref _lastFault, value); }
}
