namespace CardlessAtm.Devices.RaspberryPi.Configuration;

/// <summary>Shared checks for BCM pin numbers in options.</summary>
internal static class PinRules
{
    /// <summary>Highest BCM line on the 40-pin header (GPIO 0–27).</summary>
    public const int HighestHeaderPin = 27;

    public static void CheckPin(string setting, int pin, bool optional = false)
    {
        if (optional && pin == -1)
        {
            return;
        }

        if (pin is < 0 or > HighestHeaderPin)
        {
            throw new ConfigurationException(
                setting,
                $"{pin} is not a GPIO line on the 40-pin header; use a BCM number 0–{HighestHeaderPin}{(optional ? " or -1 when not wired" : string.Empty)}");
        }
    }

    public static void CheckDistinct(string section, IEnumerable<(string Setting, int Pin)> pins)
    {
        var seen = new Dictionary<int, string>();
        foreach (var (setting, pin) in pins)
        {
            if (pin < 0)
            {
                continue;
            }

            if (!seen.TryAdd(pin, setting))
            {
                throw new ConfigurationException(setting, $"GPIO {pin} is already used by {seen[pin]} in {section}; each line can serve one purpose");
            }
        }
    }
}
