using System.CommandLine;
using CardlessAtm.Cli.Demo;
using CardlessAtm.Cli.Rigs;
using CardlessAtm.Devices.Configuration;
using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Devices.Simulated;
using CardlessAtm.Panel;
using CardlessAtm.Terminal;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CardlessAtm.Cli.Commands;

/// <summary><c>cardless-atm panel</c>: the front panel in the browser (docs/panel.md).</summary>
internal static class PanelCommand
{
    private static readonly string[] DeviceClasses = ["Display", "Keypad", "Dispenser", "Sensors"];

    /// <summary>What <c>cardless-atm panel</c> without <c>--demo</c> says: the panel attaches from inside the terminal's process.</summary>
    internal const string AttachHint =
        "panel: the panel attaches to a terminal from inside its process: start it as `cardless-atm terminal --panel` (or Panel:Enabled=true), or run `cardless-atm panel --demo` for the demo network.";

    /// <summary>Reads <c>Panel:*</c> as the panel commands use it.</summary>
    internal static PanelOptions ReadOptions(IConfiguration configuration)
    {
        var options = new PanelOptions();
        configuration.GetSection(PanelOptions.SectionName).Bind(options);
        return options;
    }

    /// <summary>
    /// The panel's settings and the configured devices, checked before the terminal opens a device or dials a link. On the
    /// Simulated rig every device class must be of a simulated kind; on the FirmwareSim rig (<paramref name="rig"/>) every
    /// device must be on the rig's emulators (<see cref="FirmwareSimPanelWiring"/>).
    /// </summary>
    /// <returns>Device class to configured kind, and (FirmwareSim rig) why the dispenser switches are not wired, or null.</returns>
    /// <exception cref="PanelRefusedException">Unsafe settings, or a device the panel must not drive.</exception>
    internal static (Dictionary<string, string?> Kinds, string? DispenserOffRig) CheckBeforeStart(IConfiguration configuration, PanelOptions options, FirmwareSimRig? rig = null)
    {
        options.Validate();
        var kinds = DeviceClasses.ToDictionary(c => c, c => configuration[$"Devices:{c}:Kind"]);
        if (rig is not null)
        {
            return (kinds, FirmwareSimPanelWiring.Ensure(FirmwareSimPanelWiring.Check(configuration, rig), options.AllowRealDevices));
        }

        PanelSafety.EnsureSimulated(kinds, options.AllowRealDevices);
        return (kinds, null);
    }

    /// <summary>
    /// Serves the panel for a running terminal in this process (<c>cardless-atm terminal --panel</c>), on the terminal's
    /// own devices from DI: the Simulated rig's simulators, or (with <paramref name="rig"/>) the FirmwareSim rig's emulators
    /// under the terminal's Pi drivers. The same safety rules as <c>--demo</c>: loopback unless Panel:AllowRemote with a
    /// token, and no real device unless Panel:AllowRealDevices. The demo's host, proxy and phones are not there: the ledger
    /// and phone panes and the link switches are marked unavailable.
    /// </summary>
    /// <exception cref="PanelRefusedException">Unsafe settings, a real device, or devices the panel cannot drive.</exception>
    internal static async Task<PanelServer> AttachAsync(IServiceProvider services, AtmTerminal terminal, PanelOptions options, CancellationToken cancellationToken, FirmwareSimRig? rig = null)
    {
        var (kinds, dispenserOffRig) = CheckBeforeStart(services.GetRequiredService<IConfiguration>(), options, rig);
        var devices = services.GetRequiredService<AtmDevices>();
        var dispenser = services.GetRequiredService<IDispenserDevice>();
        IPanelRig panelRig;
        if (rig is not null)
        {
            FirmwareSimPanelWiring.EnsureBuilt(devices, dispenser, rig, dispenserOffRig is null);
            panelRig = new FirmwareSimPanelRig(rig, dispenserOffRig);
        }
        else if (devices.Display is SimulatedDisplay display && devices.Keypad is SimulatedKeypad keypad
            && dispenser is SimulatedDispenserDevice simulatedDispenser && devices.Sensors is SimulatedFaultSensors sensors)
        {
            panelRig = new SimulatedPanelRig(display, keypad, simulatedDispenser, sensors);
        }
        else
        {
            throw new PanelRefusedException(
                $"The attached panel shows and drives the Simulated rig's devices (Devices:*:Kind=Simulated) or the FirmwareSim rig's (--rig firmware-sim) only; this terminal runs {devices.Display.GetType().Name}, "
                + $"{devices.Keypad.GetType().Name}, {dispenser.GetType().Name} and {devices.Sensors.GetType().Name}.");
        }

        var atm = new PanelAtm
        {
            Terminal = terminal,
            Rig = panelRig,
            OwnsRig = true,
            DeviceKinds = kinds,
            Currency = terminal.Options.Currency,
            Mode = "attached to this terminal",
        };
        return await PanelServer.StartAsync(atm, options, services.GetRequiredService<ILoggerFactory>(), services.GetService<TimeProvider>(), cancellationToken);
    }

    public static Command Create()
    {
        var demo = new Option<bool>("--demo") { Description = "Start the whole demo network (host, proxy, terminal on the Simulated rig, phones) in this process and serve its panel." };
        var address = new Option<string?>("--address") { Description = "Address to bind (Panel:Address; default 127.0.0.1). Anything but loopback needs Panel:AllowRemote=true and a Panel:Token." };
        var port = new Option<int?>("--port") { Description = "TCP port (Panel:Port; default 0, a free port, printed)." };
        var rig = new Option<string?>("--rig")
        {
            Description = "With --demo: the terminal's rig, simulated (the in-memory simulators, the default) or firmware-sim (the Raspberry Pi drivers "
                + "against the firmware emulators: the ILI9341 framebuffer on screen, the key matrix, the reed switches, the LCDM firmware's faults).",
        };
        var dispenser = FirmwareSimRig.CreateDispenserOption();
        var command = new Command(
            "panel",
            "Serve a front panel in the browser: the ATM screen live, keypad, cash units, journal, fault check, fault switches and phone panes "
            + "that withdraw through the proxy. Loopback only by default; refuses real (non-simulated) devices.")
        {
            demo,
            address,
            port,
            rig,
            dispenser,
        };
        command.SetAction((parse, cancellationToken) => CliHost.RunAsync(async () =>
        {
            using var host = CliHost.Build(parse, _ => { });
            var configuration = host.Services.GetRequiredService<IConfiguration>();
            var options = ReadOptions(configuration);
            options.Address = parse.GetValue(address) ?? options.Address;
            options.Port = parse.GetValue(port) ?? options.Port;

            // The configured devices, as `terminal` would build them: the panel never runs next to real ones unless told.
            var kinds = DeviceClasses.ToDictionary(c => c, c => configuration[$"Devices:{c}:Kind"]);
            PanelSafety.EnsureSimulated(kinds, options.AllowRealDevices);
            if (!parse.GetValue(demo))
            {
                throw new UsageException(AttachHint);
            }

            var onRig = FirmwareSimRig.ParseRigOption(parse.GetValue(rig));
            var model = FirmwareSimRig.ParseDispenserOption(parse.GetValue(dispenser), onRig) ?? RigDispenserModel.Lcdm2000;
            await using var panel = await DemoPanel.StartAsync(options, host.Services.GetRequiredService<ILoggerFactory>(), cancellationToken, onRig ? DemoRigKind.FirmwareSim : DemoRigKind.Simulated, model);
            var url = panel.Server.Url;
            Console.WriteLine($"Front panel of {panel.Atm.Terminal.Options.AtmId} (demo network, {panel.PanelAtm.Rig.Name}): {url}" + (string.IsNullOrEmpty(options.Token) ? string.Empty : "?token=<Panel:Token>"));
            Console.WriteLine($"Demo customers: {string.Join("; ", panel.Network.Seed.Customers.Select(c => $"{c.HolderName} account {c.AccountId} PIN {c.Pin}"))}");
            Console.WriteLine("Ctrl+C stops the panel and the network.");
            try
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }
            catch (OperationCanceledException)
            {
            }

            return 0;
        }));
        return command;
    }
}
