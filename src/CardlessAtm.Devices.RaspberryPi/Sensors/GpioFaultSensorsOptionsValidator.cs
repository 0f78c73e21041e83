using CardlessAtm.Devices.RaspberryPi.Configuration;
using CardlessAtm.Devices.Sensors;

namespace CardlessAtm.Devices.RaspberryPi.Sensors;

/// <summary>The rules for <see cref="GpioFaultSensorsOptions"/>; every failure starts with the full setting path under <c>section</c>.</summary>
/// <param name="section">The configuration path the options are bound from, e.g. <c>Devices:Sensors:Gpio</c>.</param>
public sealed class GpioFaultSensorsOptionsValidator(string section) : PiOptionsValidator<GpioFaultSensorsOptions>(section)
{
    /// <inheritdoc/>
    protected override void Check(GpioFaultSensorsOptions options)
    {
        if (options.DebounceMilliseconds is < 1 or > 1000)
        {
            throw new ConfigurationException($"{Section}:DebounceMilliseconds", $"{options.DebounceMilliseconds} ms is outside 1–1000 ms");
        }

        if (options.FlappingAfterMilliseconds < options.DebounceMilliseconds * 2)
        {
            throw new ConfigurationException($"{Section}:FlappingAfterMilliseconds", $"{options.FlappingAfterMilliseconds} ms must be at least twice DebounceMilliseconds ({options.DebounceMilliseconds} ms)");
        }

        if (options.Sensors is null || options.Sensors.Count == 0)
        {
            throw new ConfigurationException($"{Section}:Sensors", "list the sensors (Id, Kind, Pin, Pull, AlertLevel); a sensor the rig lacks is listed without a Pin and reports NotAvailable");
        }

        var ids = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var pins = new List<(string, int)>();
        for (var i = 0; i < options.Sensors.Count; i++)
        {
            var s = options.Sensors[i];
            var at = $"{Section}:Sensors:{i}";
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

        PinRules.CheckDistinct(Section, pins);
    }
}
