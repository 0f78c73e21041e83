using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Host.Administration;
using CardlessAtm.Phone.Withdrawal;
using CardlessAtm.Terminal;

namespace CardlessAtm.Panel;

/// <summary>A phone the panel's phone panes can hold: an enrolled phone of the host, talking to the proxy like any other.</summary>
/// <param name="Name">Shown in the pane, e.g. "Ada Lovelace's phone".</param>
/// <param name="Connect">Makes a client for one withdrawal (the phone library, over the proxy's phone port).</param>
public sealed record PanelPhone(string Name, Func<CardlessWithdrawalClient> Connect);

/// <summary>An account whose balance the panel shows (read from the host's ledger).</summary>
public sealed record PanelAccount(string AccountId, string HolderName);

/// <summary>A link the panel can cut (host link down, proxy link down): a relay between the terminal and its peer.</summary>
public interface IPanelLink
{
    /// <summary>True while the link is cut.</summary>
    bool IsDown { get; }

    /// <summary>Cuts the link (open connections are closed, new ones refused) or restores it.</summary>
    void SetDown(bool down);
}

/// <summary>
/// What the panel shows and drives: a running terminal on the Simulated or FirmwareSim rig, the host's ledger and the phones. Every
/// switch acts on a device (the simulators' fault injection) or a link, never on the withdrawal flow.
/// </summary>
public sealed class PanelAtm
{
    /// <summary>The running terminal (read only: state, journal, cash units, fault check).</summary>
    public required AtmTerminal Terminal { get; init; }

    /// <summary>The rig's screen, keys and fault switches (the Simulated rig's simulators, or the FirmwareSim rig's emulators).</summary>
    public required IPanelRig Rig { get; init; }

    /// <summary>True when the panel's server disposes <see cref="Rig"/> as it stops (nobody else holds it).</summary>
    public bool OwnsRig { get; init; }

    /// <summary>
    /// The host's administration (balances, ledger totals); null when the panel is attached to a terminal whose host
    /// runs elsewhere (<c>cardless-atm terminal --panel</c>): the ledger pane is then marked unavailable.
    /// </summary>
    public Func<HostAdministration>? Host { get; init; }

    /// <summary>The phones the panes can use; none when attached to a terminal (the phone panes are then unavailable).</summary>
    public IReadOnlyList<PanelPhone> Phones { get; init; } = [];

    /// <summary>The accounts whose balances are shown (only with <see cref="Host"/>).</summary>
    public IReadOnlyList<PanelAccount> Accounts { get; init; } = [];

    /// <summary>What the panel shows: "demo network" (<c>panel --demo</c>) or "attached" (<c>terminal --panel</c>), for the page's header.</summary>
    public string Mode { get; init; } = "demo network";

    /// <summary>The device kind of each device class (<c>Devices:Display:Kind</c>, …) the terminal was built with; checked by <see cref="PanelSafety"/>.</summary>
    public required IReadOnlyDictionary<string, string?> DeviceKinds { get; init; }

    /// <summary>The relay on the terminal's host link, if the panel may cut it.</summary>
    public IPanelLink? HostLink { get; init; }

    /// <summary>The relay on the terminal's proxy link, if the panel may cut it.</summary>
    public IPanelLink? ProxyLink { get; init; }

    /// <summary>The currency the ATM dispenses.</summary>
    public string Currency { get; init; } = "EUR";
}

/// <summary>The fault switches of the panel, each wired to the simulated devices or a link.</summary>
public static class PanelFaults
{
    /// <summary>Switch names as the page and the API use them.</summary>
    public static IReadOnlyList<string> Names { get; } =
        ["safe-door", "cassette-removed", "jam", "double-note-reject", "dispenser-silent", "notes-not-taken", "host-link-down", "proxy-link-down"];

    /// <summary>Whether switch <paramref name="name"/> is on (for per-cassette switches: at <paramref name="position"/>).</summary>
    public static bool IsOn(PanelAtm atm, string name, int position = 0)
    {
        ArgumentNullException.ThrowIfNull(atm);
        return name switch
        {
            "host-link-down" => atm.HostLink?.IsDown ?? false,
            "proxy-link-down" => atm.ProxyLink?.IsDown ?? false,
            _ => atm.Rig.Unavailable(name) is null && atm.Rig.IsOn(name, position),
        };
    }

    /// <summary>Why a switch is not offered here, or null when it is wired.</summary>
    public static string? Unavailable(PanelAtm atm, string name)
    {
        ArgumentNullException.ThrowIfNull(atm);
        return name switch
        {
            "host-link-down" => atm.HostLink is null ? "not wired on this rig (the panel did not start the terminal's host link)" : null,
            "proxy-link-down" => atm.ProxyLink is null ? "not wired on this rig (the panel did not start the terminal's proxy link)" : null,
            _ => atm.Rig.Unavailable(name),
        };
    }

    /// <summary>Sets a switch. The caller has validated the name and position (see <see cref="PanelServer"/>).</summary>
    public static void Set(PanelAtm atm, string name, bool on, int position)
    {
        ArgumentNullException.ThrowIfNull(atm);
        switch (name)
        {
            case "host-link-down":
                atm.HostLink!.SetDown(on);
                break;
            case "proxy-link-down":
                atm.ProxyLink!.SetDown(on);
                break;
            default:
                atm.Rig.Switch(name, on, position);
                break;
        }
    }

    /// <summary>Whether a switch needs a cassette position on this rig.</summary>
    public static bool TakesPosition(PanelAtm atm, string name)
    {
        ArgumentNullException.ThrowIfNull(atm);
        return name is not ("host-link-down" or "proxy-link-down") && atm.Rig.TakesPosition(name);
    }

    internal static IEnumerable<int> Positions(PanelAtm atm) => atm.Terminal.Devices.Dispenser.CashUnits.Select(u => u.Position).Order();

    internal static CashUnit? UnitAt(PanelAtm atm, int position) => atm.Terminal.Devices.Dispenser.CashUnits.FirstOrDefault(u => u.Position == position);
}
