using CardlessAtm.Devices.Sensors;

namespace CardlessAtm.Devices.RaspberryPi.Sensors;

/// <summary>Which internal resistor an input uses.</summary>
public enum InputPull
{
    /// <summary>None: the circuit has its own resistor.</summary>
    None,

    /// <summary>Pull-up: a contact to GND reads Low when closed (the usual reed-switch wiring).</summary>
    Up,

    /// <summary>Pull-down: a contact to 3V3 reads High when closed.</summary>
    Down,
}

/// <summary>A logic level on a GPIO line.</summary>
public enum SignalLevel
{
    /// <summary>0 V.</summary>
    Low,

    /// <summary>3.3 V.</summary>
    High,
}

/// <summary>One fault sensor on a GPIO input.</summary>
public sealed class GpioSensorOptions
{
    /// <summary>Unique id, e.g. <c>SafeDoor</c> or <c>Cassette1</c>.</summary>
    public string Id { get; set; } = string.Empty;

    /// <summary>What it watches.</summary>
    public SensorKind Kind { get; set; }

    /// <summary>For <see cref="SensorKind.CassettePresent"/>: the cassette position (1-based); otherwise unset.</summary>
    public int? Position { get; set; }

    /// <summary>BCM pin, or null for a sensor the rig does not have (it then reports NotAvailable).</summary>
    public int? Pin { get; set; }

    /// <summary>Internal resistor.</summary>
    public InputPull Pull { get; set; } = InputPull.Up;

    /// <summary>
    /// The active level: the level the line has in the sensor's alert state (door open, cassette
    /// missing, shutter open, tamper). A reed switch to GND with a pull-up that is closed while the
    /// door is shut reads High when the door opens: AlertLevel High.
    /// </summary>
    public SignalLevel AlertLevel { get; set; } = SignalLevel.High;
}

/// <summary>Settings of the GPIO fault sensors; checked by <see cref="GpioFaultSensorsOptionsValidator"/>.</summary>
public sealed class GpioFaultSensorsOptions
{
    /// <summary>The sensors, in the order they are reported.</summary>
    public List<GpioSensorOptions> Sensors { get; set; } = [];

    /// <summary>How long an input must hold a level before it counts (ms).</summary>
    public int DebounceMilliseconds { get; set; } = 30;

    /// <summary>A sensor that changes for this long without ever holding a level is reported flapping (Alert) (ms).</summary>
    public int FlappingAfterMilliseconds { get; set; } = 2000;
}
