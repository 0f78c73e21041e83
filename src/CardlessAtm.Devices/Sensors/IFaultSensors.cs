using CardlessAtm.Devices.Status;

namespace CardlessAtm.Devices.Sensors;

/// <summary>What a fault sensor watches.</summary>
public enum SensorKind
{
    /// <summary>The safe door (cash side).</summary>
    SafeDoor,

    /// <summary>The cabinet (top hat) door.</summary>
    CabinetDoor,

    /// <summary>A cassette's presence switch; the sensor id names the cassette.</summary>
    CassettePresent,

    /// <summary>The cash exit shutter's closed switch.</summary>
    ShutterClosed,

    /// <summary>A tamper or vibration switch.</summary>
    Tamper,
}

/// <summary>The reading of one sensor.</summary>
public enum SensorState
{
    /// <summary>Not wired or not configured: never treated as "ok".</summary>
    NotAvailable,

    /// <summary>The safe state: door closed, cassette present, shutter closed, no tamper.</summary>
    Normal,

    /// <summary>The unsafe state: door open, cassette missing, shutter open, tamper triggered.</summary>
    Alert,
}

/// <summary>One sensor's identity and reading.</summary>
/// <param name="Id">Configured id, e.g. <c>SafeDoor</c> or <c>Cassette1</c>.</param>
/// <param name="Kind">What it watches.</param>
/// <param name="State">Its reading.</param>
/// <param name="Position">For <see cref="SensorKind.CassettePresent"/>: the cassette position; otherwise null.</param>
public sealed record SensorReading(string Id, SensorKind Kind, SensorState State, int? Position = null);

/// <summary>The ATM's fault sensors (doors, cassettes, shutter, tamper).</summary>
public interface IFaultSensors
{
    /// <summary>Status of the sensor board; <see cref="DeviceStatus.Changed"/> fires when any reading changes.</summary>
    FaultSensorStatus Status { get; }
}

/// <summary>Status of the fault sensors: one value per sensor id, change events only on change.</summary>
public sealed class FaultSensorStatus(string deviceName) : DeviceStatus(deviceName)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, SensorReading> _readings = new(StringComparer.Ordinal);

    /// <summary>Every configured sensor's reading, in configuration order.</summary>
    public IReadOnlyList<SensorReading> Readings
    {
        get
        {
            lock (_gate)
            {
                return [.. _readings.Values];
            }
        }
    }

    /// <summary>The state of the first sensor of a kind (and position), or <see cref="SensorState.NotAvailable"/> if none is configured.</summary>
    public SensorState StateOf(SensorKind kind, int? position = null)
    {
        lock (_gate)
        {
            foreach (var reading in _readings.Values)
            {
                if (reading.Kind == kind && (position is null || reading.Position == position))
                {
                    return reading.State;
                }
            }
        }

        return SensorState.NotAvailable;
    }

    /// <summary>Records a reading; raises <see cref="DeviceStatus.Changed"/> only if it differs from the last one for that id.</summary>
    public bool Update(SensorReading reading)
    {
        ArgumentNullException.ThrowIfNull(reading);
        SensorReading? old;
        lock (_gate)
        {
            if (_readings.TryGetValue(reading.Id, out old) && old == reading)
            {
                return false;
            }

            _readings[reading.Id] = reading;
        }

        RaiseChanged(reading.Id, old?.State, reading.State);
        return true;
    }
}
