using CardlessAtm.Devices.Sensors;
using CardlessAtm.Devices.Status;

namespace CardlessAtm.Devices.Simulated;

/// <summary>One simulated sensor's wiring (<c>Devices:Sensors:Simulated:Sensors:N</c>).</summary>
public sealed class SimulatedSensorOptions
{
    /// <summary>Sensor id, e.g. <c>SafeDoor</c>.</summary>
    public string Id { get; set; } = string.Empty;

    /// <summary>What it watches.</summary>
    public SensorKind Kind { get; set; }

    /// <summary>Cassette position, for cassette-presence switches.</summary>
    public int? Position { get; set; }
}

/// <summary>Switches that tests and the demo can toggle; every configured sensor starts normal.</summary>
public sealed class SimulatedFaultSensors : IFaultSensors
{
    private readonly Dictionary<string, SensorReading> _wired;

    /// <summary>Creates the board with the given sensors wired (others report "not available").</summary>
    public SimulatedFaultSensors(IEnumerable<SimulatedSensorOptions> sensors)
    {
        ArgumentNullException.ThrowIfNull(sensors);
        _wired = new(StringComparer.Ordinal);
        foreach (var sensor in sensors)
        {
            if (string.IsNullOrWhiteSpace(sensor.Id) || !_wired.TryAdd(sensor.Id, new SensorReading(sensor.Id, sensor.Kind, SensorState.Normal, sensor.Position)))
            {
                throw new ConfigurationException("Devices:Sensors:Simulated:Sensors", $"sensor id '{sensor.Id}' is empty or used twice");
            }
        }

        foreach (var reading in _wired.Values)
        {
            Status.Update(reading);
        }

        Status.Device = DeviceState.Online;
    }

    /// <summary>A board with the usual switches: safe door, cabinet door, tamper, and a presence switch per cassette position.</summary>
    public static SimulatedFaultSensors Standard(int cassettePositions) => new(
        new[]
        {
            new SimulatedSensorOptions { Id = "SafeDoor", Kind = SensorKind.SafeDoor },
            new SimulatedSensorOptions { Id = "CabinetDoor", Kind = SensorKind.CabinetDoor },
            new SimulatedSensorOptions { Id = "Tamper", Kind = SensorKind.Tamper },
        }.Concat(Enumerable.Range(1, cassettePositions).Select(p => new SimulatedSensorOptions { Id = $"Cassette{p}", Kind = SensorKind.CassettePresent, Position = p })));

    /// <inheritdoc />
    public FaultSensorStatus Status { get; } = new("Sensors");

    /// <summary>Sets a sensor's state.</summary>
    /// <exception cref="ArgumentException">No sensor with that id is wired.</exception>
    public void Set(string id, SensorState state)
    {
        if (!_wired.TryGetValue(id, out var reading))
        {
            throw new ArgumentException($"No simulated sensor '{id}' is wired (wired: {string.Join(", ", _wired.Keys)}).", nameof(id));
        }

        Status.Update(reading with { State = state });
    }

    /// <summary>Sets the first sensor of a kind (and position).</summary>
    /// <exception cref="ArgumentException">No such sensor is wired.</exception>
    public void Set(SensorKind kind, SensorState state, int? position = null)
    {
        var reading = _wired.Values.FirstOrDefault(r => r.Kind == kind && (position is null || r.Position == position))
            ?? throw new ArgumentException($"No simulated {kind} sensor{(position is null ? string.Empty : $" at position {position}")} is wired.", nameof(kind));
        Set(reading.Id, state);
    }
}
