using System.Net;

namespace CardlessAtm.Panel;

/// <summary>Where and how the panel listens (<c>Panel:*</c> settings; see docs/panel.md).</summary>
public sealed class PanelOptions
{
    /// <summary>The section name in configuration.</summary>
    public const string SectionName = "Panel";

    /// <summary>The least length of <see cref="Token"/>.</summary>
    public const int MinimumTokenLength = 16;

    /// <summary>
    /// Serve the panel from the terminal's own process (<c>Panel:Enabled</c>; the same as <c>cardless-atm terminal --panel</c>).
    /// </summary>
    public bool Enabled { get; set; }

    /// <summary>The address to bind; loopback (127.0.0.1) by default.</summary>
    public string Address { get; set; } = "127.0.0.1";

    /// <summary>The TCP port; 0 picks a free one.</summary>
    public int Port { get; set; }

    /// <summary>
    /// Must be true to bind anything but loopback (<c>Panel:AllowRemote</c>); a <see cref="Token"/> is then required too.
    /// </summary>
    public bool AllowRemote { get; set; }

    /// <summary>
    /// A shared secret every request must carry (header <c>X-Panel-Token</c>, or the cookie the page sets after
    /// <c>/?token=…</c>). Optional on loopback, required on any other address; at least 16 characters.
    /// </summary>
    public string? Token { get; set; }

    /// <summary>
    /// Lets the panel start although a real (non-simulated) device kind is configured (<c>Panel:AllowRealDevices</c>).
    /// The panel opens safe doors and moves money: leave this false on anything that holds cash.
    /// </summary>
    public bool AllowRealDevices { get; set; }

    /// <summary>The parsed address.</summary>
    /// <exception cref="PanelRefusedException">The settings are unsafe or malformed.</exception>
    public IPAddress Validate()
    {
        if (!IPAddress.TryParse(Address, out var address))
        {
            throw new PanelRefusedException($"Panel:Address '{Address}' is not an IP address (the panel binds 127.0.0.1 by default).");
        }

        if (Port is < 0 or > 65535)
        {
            throw new PanelRefusedException($"Panel:Port {Port} is out of range (0 to 65535; 0 picks a free port).");
        }

        if (Token is not null && Token.Length < MinimumTokenLength)
        {
            throw new PanelRefusedException($"Panel:Token is {Token.Length} characters; it must be at least {MinimumTokenLength}.");
        }

        if (Token is not null && Token.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
        {
            throw new PanelRefusedException("Panel:Token contains whitespace or a control character: a blank or padded secret is a mistake; use at least 16 printable characters.");
        }

        if (!IPAddress.IsLoopback(address))
        {
            if (!AllowRemote)
            {
                throw new PanelRefusedException($"Panel:Address {address} is not loopback: set Panel:AllowRemote=true and a Panel:Token to serve the panel beyond this machine.");
            }

            if (string.IsNullOrEmpty(Token))
            {
                throw new PanelRefusedException($"Panel:Address {address} is not loopback: a shared secret is required (Panel:Token, at least {MinimumTokenLength} characters).");
            }
        }

        return address;
    }
}

/// <summary>The panel refuses to start: an unsafe binding or a real device.</summary>
public sealed class PanelRefusedException(string message) : Exception(message);

/// <summary>The rule that the panel never drives real hardware.</summary>
public static class PanelSafety
{
    /// <summary>The device kinds that move no real money: the in-memory simulators.</summary>
    public static IReadOnlySet<string> SimulatedKinds { get; } = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { "Simulated" };

    /// <summary>Refuses when any device class is configured with a kind that is not simulated, unless <paramref name="allowRealDevices"/>.</summary>
    /// <param name="kinds">Device class (e.g. <c>Dispenser</c>) to its configured kind.</param>
    /// <param name="allowRealDevices"><c>Panel:AllowRealDevices</c>.</param>
    /// <exception cref="PanelRefusedException">A real device kind is configured.</exception>
    public static void EnsureSimulated(IReadOnlyDictionary<string, string?> kinds, bool allowRealDevices)
    {
        ArgumentNullException.ThrowIfNull(kinds);
        var real = kinds.Where(k => !string.IsNullOrWhiteSpace(k.Value) && !SimulatedKinds.Contains(k.Value!)).OrderBy(k => k.Key, StringComparer.Ordinal).ToList();
        if (real.Count > 0 && !allowRealDevices)
        {
            throw new PanelRefusedException(
                $"The panel drives simulated ATMs only, and real devices are configured: {string.Join(", ", real.Select(k => $"Devices:{k.Key}:Kind={k.Value}"))}. "
                + "It can open the safe door and move money; set Panel:AllowRealDevices=true only on a bench rig that holds no cash.");
        }
    }
}
