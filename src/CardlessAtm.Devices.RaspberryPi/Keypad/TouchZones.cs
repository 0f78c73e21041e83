using CardlessAtm.Devices.Keypad;

namespace CardlessAtm.Devices.RaspberryPi.Keypad;

/// <summary>Checks (<see cref="Check"/>) and builds (<see cref="Build"/>) the on-screen buttons of a touch keypad (shared by the CHSC6440 and the XPT2046 keypads).</summary>
internal static class TouchZones
{
    /// <summary>The zones with their keys, from zones that <see cref="Check"/> accepted; no configuration path involved.</summary>
    /// <exception cref="ArgumentException">A zone's key is not a key (the options were not validated).</exception>
    public static IReadOnlyList<(System.Drawing.Rectangle Area, AtmKey Key)> Build(IEnumerable<TouchZoneOptions> zones)
    {
        ArgumentNullException.ThrowIfNull(zones);
        return [.. zones.Select(z => (
            new System.Drawing.Rectangle(z.X, z.Y, z.Width, z.Height),
            KeyNames.TryParse(z.Key, out var key) ? key : throw new ArgumentException($"'{z.Key}' is not a key; validate the options first", nameof(zones))))];
    }

    /// <summary>Checks every zone against the panel and the others.</summary>
    /// <exception cref="ConfigurationException">A zone is invalid; the message names it under <paramref name="section"/>.</exception>
    public static void Check(string section, List<TouchZoneOptions>? zones, int screenWidth, int screenHeight)
    {
        if (zones is null || zones.Count == 0)
        {
            throw new ConfigurationException($"{section}:Zones", "list the on-screen buttons (Key, X, Y, Width, Height)");
        }

        var screen = new System.Drawing.Rectangle(0, 0, screenWidth, screenHeight);
        var result = new List<(System.Drawing.Rectangle, AtmKey)>();
        for (var i = 0; i < zones.Count; i++)
        {
            var zone = zones[i];
            var at = $"{section}:Zones:{i}";
            if (!KeyNames.TryParse(zone.Key, out var key))
            {
                throw new ConfigurationException($"{at}:Key", $"'{zone.Key}' is not a key; use {KeyNames.Allowed}");
            }

            var area = new System.Drawing.Rectangle(zone.X, zone.Y, zone.Width, zone.Height);
            if (zone.Width <= 0 || zone.Height <= 0 || !screen.Contains(area))
            {
                throw new ConfigurationException($"{at}:X", $"the zone {zone.Width}x{zone.Height} at ({zone.X},{zone.Y}) must have a size and lie on the {screenWidth}x{screenHeight} panel");
            }

            foreach (var (other, otherKey) in result)
            {
                if (other.IntersectsWith(area))
                {
                    throw new ConfigurationException($"{at}:X", $"the zone for {zone.Key} overlaps the zone for {otherKey}; a touch must mean one key");
                }
            }

            result.Add((area, key));
        }
    }
}
