using System.Net;
using CardlessAtm.Cli.Rigs;
using CardlessAtm.Devices.Simulated;
using CardlessAtm.Host.Seeding;
using CardlessAtm.Panel;
using CardlessAtm.Qr.Sessions;
using CardlessAtm.Security;
using Microsoft.Extensions.Logging;

namespace CardlessAtm.Cli.Demo;

/// <summary>
/// The demo network with the front panel on it (<c>cardless-atm panel --demo</c>): host, proxy and the terminal on the
/// Simulated rig, the terminal's host and proxy links through relays the panel can cut, one phone per demo customer.
/// </summary>
internal sealed class DemoPanel : IAsyncDisposable
{
    private readonly LinkRelay _hostRelay;
    private readonly LinkRelay _proxyRelay;

    private DemoPanel(DemoNetwork network, DemoAtm atm, LinkRelay hostRelay, LinkRelay proxyRelay, PanelServer server, PanelAtm panelAtm)
    {
        Network = network;
        Atm = atm;
        _hostRelay = hostRelay;
        _proxyRelay = proxyRelay;
        Server = server;
        PanelAtm = panelAtm;
    }

    /// <summary>The network the panel drives.</summary>
    public DemoNetwork Network { get; }

    /// <summary>The ATM on screen.</summary>
    public DemoAtm Atm { get; }

    /// <summary>The panel's web server.</summary>
    public PanelServer Server { get; }

    /// <summary>What the panel drives.</summary>
    public PanelAtm PanelAtm { get; }

    /// <summary>The QR lifetime of the panel's demo ATM: long enough to read the screen and type a PIN.</summary>
    public static TimeSpan QrLifetime { get; } = TimeSpan.FromSeconds(90);

    /// <summary>Starts the network and serves the panel for its ATM.</summary>
    /// <exception cref="PanelRefusedException">The panel's settings are unsafe.</exception>
    /// <param name="options">The panel's settings.</param>
    /// <param name="loggers">Loggers of the network and the panel.</param>
    /// <param name="cancellationToken">Stops the start.</param>
    /// <param name="rig">The terminal's rig: the simulators, or the Pi drivers on the firmware emulators.</param>
    /// <param name="rigDispenser">The FirmwareSim rig's dispenser firmware.</param>
    public static async Task<DemoPanel> StartAsync(PanelOptions options, ILoggerFactory loggers, CancellationToken cancellationToken, DemoRigKind rig = DemoRigKind.Simulated, RigDispenserModel rigDispenser = RigDispenserModel.Lcdm2000)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate(); // before anything starts: a refused binding starts no network
        var network = await DemoNetwork.StartAsync(SecurityProfileKind.Aes, loggers, cancellationToken, rig: rig, rigDispenser: rigDispenser);
        LinkRelay? hostRelay = null;
        LinkRelay? proxyRelay = null;
        try
        {
            hostRelay = LinkRelay.Start(new IPEndPoint(IPAddress.Loopback, network.HostPort));
            proxyRelay = LinkRelay.Start(new IPEndPoint(IPAddress.Loopback, network.Proxy.AtmEndPoint.Port));
            var qr = new QrSessionOptions { Lifetime = QrLifetime, ClockSkew = TimeSpan.Zero };
            var atm = await network.StartTerminalAsync(DemoSeed.AtmId, qr, cancellationToken, hostPort: hostRelay.Port, proxyPort: proxyRelay.Port);
            var devices = atm.Terminal.Devices;
            IPanelRig panelRig = atm.Hardware is FirmwareSimDemoHardware firmware
                ? new FirmwareSimPanelRig(firmware.Rig)
                : new SimulatedPanelRig((SimulatedDisplay)devices.Display, (SimulatedKeypad)devices.Keypad, atm.Dispenser, (SimulatedFaultSensors)devices.Sensors);
            var panelAtm = new PanelAtm
            {
                Terminal = atm.Terminal,
                Rig = panelRig, // the demo's own: disposed with the network, whichever servers show it
                Host = () => network.Host.Administration,
                Phones = [.. network.Seed.Customers.Select((c, i) => new PanelPhone($"{c.HolderName}'s phone", () => network.Phone(i)))],
                Accounts = [.. network.Seed.Customers.Select(c => new PanelAccount(c.AccountId, c.HolderName))],
                DeviceKinds = new Dictionary<string, string?>
                {
                    ["Display"] = KindOf(devices.Display),
                    ["Keypad"] = KindOf(devices.Keypad),
                    ["Dispenser"] = atm.Hardware is FirmwareSimDemoHardware fw ? fw.Dispenser.Kind : KindOf(atm.Dispenser),
                    ["Sensors"] = KindOf(devices.Sensors),
                },
                HostLink = hostRelay,
                ProxyLink = proxyRelay,
            };
            PanelServer server;
            try
            {
                server = await PanelServer.StartAsync(panelAtm, options, loggers, cancellationToken: cancellationToken);
            }
            catch
            {
                panelRig.Dispose();
                throw;
            }

            return new DemoPanel(network, atm, hostRelay, proxyRelay, server, panelAtm);
        }
        catch
        {
            if (hostRelay is not null)
            {
                await hostRelay.DisposeAsync();
            }

            if (proxyRelay is not null)
            {
                await proxyRelay.DisposeAsync();
            }

            await network.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        PanelAtm.Rig.Dispose();
        _hostRelay.SetDown(false);
        _proxyRelay.SetDown(false);
        await Network.DisposeAsync();
        await _hostRelay.DisposeAsync();
        await _proxyRelay.DisposeAsync();
    }

    /// <summary>"Simulated" for the in-memory simulators; otherwise the device's type, which the panel refuses.</summary>
    private static string KindOf(object device) => device switch
    {
        SimulatedDisplay or SimulatedKeypad or SimulatedDispenserDevice or SimulatedFaultSensors => SimulatedDevicesRegistration.Kind,
        _ => device.GetType().Name,
    };
}
