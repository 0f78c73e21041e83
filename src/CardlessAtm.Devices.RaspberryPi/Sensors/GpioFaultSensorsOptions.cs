using CardlessAtm.Devices.RaspberryPi.Configuration;
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

/// <summary>Settings of the GPIO fault sensors (e.g. <c>Devices:Sensors:Gpio</c>).</summary>
public sealed class GpioFaultSensorsOptions
{
    /// <summary>The sensors, in the order they are reported.</summary>
    public List<GpioSensorOptions> Sensors { get; set; } = [];

    /// <summary>How long an input must hold a level before it counts (ms).</summary>
    public int DebounceMilliseconds { get; set; } = 30;

    /// <summary>A sensor that changes for this long without ever holding a level is reported flapping (Alert) (ms).</summary>
    public int FlappingAfterMilliseconds { get; set; } = 2000;

    /// <summary>Checks every setting.</summary>
    /// <exception cref="ConfigurationException">A setting is invalid; the message names it.</exception>
    public void Validate(string section = "Devices:Sensors:Gpio")
    {
        if (DebounceMilliseconds is < 1 or > 1000)
        {
            throw new ConfigurationException($"{section}:DebounceMilliseconds", $"{DebounceMilliseconds} ms is outside 1–1000 ms");
        }

        if (FlappingAfterMilliseconds < DebounceMilliseconds * 2)
        {
            throw new ConfigurationException($"{section}:FlappingAfterMilliseconds", $"{FlappingAfterMilliseconds} ms must be at least twice DebounceMilliseconds ({DebounceMilliseconds} ms)");
        }

        if (Sensors is null || Sensors.Count == 0)
        {
            throw new ConfigurationException($"{section}:Sensors", "list the sensors (Id, Kind, Pin, Pull, AlertLevel); a sensor the rig lacks is listed without a Pin and reports NotAvailable");
        }

        var ids = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var pins = new List<(string, int)>();
        for (var i = 0; i < Sensors.Count; i++)
        {
            var s = Sensors[i];
            var at = $"{section}:Sensors:{i}";
            if (string.IsNullOrWhiteSpace(s.Id))
            {
                throw new ConfigurationException($"{at}:Id", "every sensor needs an id, e.g. SafeDoor or Cassette1");
            }

            if (!ids.Add(s.Id))
            {
                throw new ConfigurationException($"{at}:Id", $"'{s.Id}' is used by two sensors");
            }

            if (!Enum.IsDefined(s.Kind))
            {
                throw new ConfigurationException($"{at}:Kind", $"'{s.Kind}' is not a sensor kind; allowed: {string.Join(", ", Enum.GetNames<SensorKind>())}");
            }

            if (s.Kind == SensorKind.CassettePresent && s.Position is not (>= 1 and <= 8))
            {
                throw new ConfigurationException($"{at}:Position", $"a CassettePresent sensor needs the cassette position 1–8 (got {s.Position?.ToString() ?? "none"})");
            }

            if (s.Kind != SensorKind.CassettePresent && s.Position is not null)
            {
                throw new ConfigurationException($"{at}:Position", $"only CassettePresent sensors have a position; remove it from {s.Kind}");
            }

            if (!Enum.IsDefined(s.Pull))
            {
                throw new ConfigurationException($"{at}:Pull", $"'{s.Pull}' is not a pull; allowed: None, Up, Down");
            }

            if (!Enum.IsDefined(s.AlertLevel))
            {
                throw new ConfigurationException($"{at}:AlertLevel", $"'{s.AlertLevel}' is not a level; allowed: Low, High");
            }

            if (s.Pin is { } pin)
            {
                PinRules.CheckPin($"{at}:Pin", pin);
                pins.Add(($"{at}:Pin", pin));
            }
        }

        PinRules.CheckDistinct(section, pins);
    }
}
