using System.CommandLine;
using CardlessAtm.Cli.Hosting;
using CardlessAtm.Devices.Configuration;
using CardlessAtm.Qr;
using CardlessAtm.Qr.Sessions;
using CardlessAtm.Security;
using CardlessAtm.Terminal;
using CardlessAtm.Terminal.Display;
using CardlessAtm.Terminal.Flow;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Hosting.Systemd;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CardlessAtm.Cli.Commands;

/// <summary><c>cardless-atm terminal</c>: the ATM application.</summary>
internal static class TerminalCommand
{
    /// <summary>What the generic host allows beyond Terminal:StopTimeout for the journal lines, the sign-off and closing the links.</summary>
    private static readonly TimeSpan StopMargin = TimeSpan.FromSeconds(15);

    public static Command Create()
    {
        var check = new Option<bool>("--check")
        {
            Description = "Only check the journal: print path:line and a reason for each torn or corrupt line; exit 2 when there is any, 0 when clean. Nothing is changed.",
        };
        var journal = new Command("journal", "Print the electronic journal in readable form, every segment in order (Terminal:DataDirectory/journal.log and journal-YYYYMMDD-NNN.log).");
        journal.Options.Add(check);
        journal.SetAction(parse => CliHost.RunAsync(async () =>
        {
            using var host = CliHost.Build(parse, b => b.Services.AddTerminalOptions(b.Configuration));
            var options = ReadOptions(host.Services);
            var path = Path.Combine(options.DataDirectory, "journal.log");
            if (Terminal.Journal.ElectronicJournal.Segments(path).Count == 0)
            {
                await Console.Error.WriteLineAsync($"No journal at {path}.");
                return 1;
            }

            if (parse.GetValue(check))
            {
                return Terminal.Journal.JournalCheck.Run(path, Console.Out);
            }

            var read = Terminal.Journal.ElectronicJournal.ReadAll(path);
            Console.Write(Terminal.Journal.ElectronicJournal.Export(read));
            foreach (var skipped in read.Skipped)
            {
                await Console.Error.WriteLineAsync($"skipped {skipped}");
            }

            return 0;
        }));

        var command = new Command("terminal", "Run the ATM: devices from Devices:*, links to Terminal:Host and Terminal:Proxy, journal and reversal queue in Terminal:DataDirectory. Stops on Ctrl+C or SIGTERM (systemd).");
        command.Subcommands.Add(journal);
        command.Subcommands.Add(TerminalSafCommand.Create());
        command.Subcommands.Add(CreateStatus());
        var rigOption = new Option<string>("--rig")
        {
            Description = "firmware-sim: run on the Raspberry Pi drivers against firmware-sim (emulated SPI panel, I2C LCD, GPIO board, LCDM-2000 on a pty) "
                + "with the rig's shipped settings under yours; the same as Devices:Rig=FirmwareSim. Default: the devices Devices:* names.",
        };
        rigOption.AcceptOnlyFromAmong("simulated", "firmware-sim");
        command.Options.Add(rigOption);
        var dispenserOption = Rigs.FirmwareSimRig.CreateDispenserOption();
        command.Options.Add(dispenserOption);
        var panelOption = new Option<bool>("--panel")
        {
            Description = "Also serve the front panel in the browser from this process, on this terminal's own devices (the Simulated rig's, or with --rig firmware-sim the rig's emulators): "
                + "the same as Panel:Enabled=true. Loopback by default (Panel:Address, Panel:Port); refuses real devices; see docs/panel.md.",
        };
        command.Options.Add(panelOption);
        command.SetAction((parse, cancellationToken) => CliHost.RunAsync(async () =>
        {
            Rigs.FirmwareSimRig? rig = null;
            using var rigScope = new RigScope(() => rig);
            using var host = CliHost.Build(parse, builder =>
            {
                var onRig = Rigs.FirmwareSimRig.ParseRigOption(parse.GetValue(rigOption));
                rig = Rigs.FirmwareSimRig.AttachIfSelected(builder, onRig, Rigs.FirmwareSimRig.ParseDispenserOption(parse.GetValue(dispenserOption), onRig || Rigs.FirmwareSimRig.IsSelected(builder.Configuration)));
                builder.Services.AddSystemd();

                // The generic host must wait for the drain (Terminal:StopTimeout) and the sign-off, not its 30 s default.
                builder.Services.AddTerminalOptions(builder.Configuration).AddQrSessionOptions(builder.Configuration);
                builder.Services.AddOptions<HostOptions>().Configure<IOptions<TerminalOptions>>((o, terminal) => o.ShutdownTimeout = terminal.Value.StopTimeout + StopMargin);
                builder.Services.AddAtmDevices(builder.Configuration, DevicesCommand.AddDeviceKinds);
                builder.Services.AddSingleton(sp =>
                {
                    var configuration = sp.GetRequiredService<IConfiguration>();
                    var options = ReadOptions(sp);
                    var devices = sp.GetRequiredService<AtmDevices>();
                    CheckCashUnitCurrency(options, devices);
                    if (!string.IsNullOrWhiteSpace(options.Display.QrImagePath))
                    {
                        devices = devices with
                        {
                            Display = new QrImageFileDisplay(devices.Display, options.Display.QrImagePath, sp.GetRequiredService<ILogger<QrImageFileDisplay>>()),
                        };
                    }

                    return AtmTerminal.Create(
                        options, devices, SecurityProfiles.FromConfiguration(configuration),
                        sp.GetRequiredService<IOptions<QrSessionOptions>>().Value, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILoggerFactory>());
                });
                builder.Services.AddSingleton<TerminalService>();
                builder.Services.AddHostedService(sp => sp.GetRequiredService<TerminalService>());
                builder.Services.AddHostedService(sp =>
                {
                    var service = sp.GetRequiredService<TerminalService>();
                    return new SystemdWatchdog(
                        sp.GetService<ISystemdNotifier>() ?? NoSystemd.Instance,
                        SystemdWatchdog.IntervalFromEnvironment(),
                        () => service.ExecuteTask is { IsCompleted: false },
                        sp.GetRequiredService<TimeProvider>());
                });
            });

            // A panel that must not run here (real devices, an unsafe binding) is refused before any device is opened.
            var panelOptions = PanelCommand.ReadOptions(host.Services.GetRequiredService<IConfiguration>());
            var withPanel = parse.GetValue(panelOption) || panelOptions.Enabled;
            if (withPanel)
            {
                PanelCommand.CheckBeforeStart(host.Services.GetRequiredService<IConfiguration>(), panelOptions, rig);
            }

            // Everything that can be wrong in the settings or the key store fails here, before anything is dialled.
            AtmTerminal terminal;
            try
            {
                await host.Services.OpenAtmDevicesAsync(cancellationToken); // the terminal's factory takes them opened
                terminal = host.Services.GetRequiredService<AtmTerminal>();
            }
            catch (SecurityException e) when (e is not KeyFileRejectedException)
            {
                await Console.Error.WriteLineAsync($"Key store: {e.Message}");
                return 2;
            }

            KillPoint.Arm(terminal, host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("CardlessAtm.KillPoint"));

            // Served before the terminal dials anything: a refusal (exit 2) leaves no link half open.
            await using var panel = withPanel
                ? await PanelCommand.AttachAsync(host.Services, terminal, panelOptions, cancellationToken, rig)
                : null;
            if (panel is not null)
            {
                Console.WriteLine($"Front panel of {terminal.Options.AtmId} (attached to this terminal): {panel.Url}" + (string.IsNullOrEmpty(panelOptions.Token) ? string.Empty : "?token=<Panel:Token>"));
            }

            var statusSettings = StatusSettings.Read(host.Services.GetRequiredService<IConfiguration>(), DefaultStatusPath(terminal.Options));
            await using (StatusFileWriter.Start(
                statusSettings, () => Status(terminal), host.Services.GetRequiredService<LastProblemLog>(), TimeProvider.System, host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("CardlessAtm.Status")))
            {
                await host.RunAsync(cancellationToken);
            }

            if (terminal.SignedOffAtHost)
            {
                Console.WriteLine("terminal: signed off at the host");
            }
            else
            {
                Console.WriteLine("terminal: not signed off at the host (link down or sign-off refused; see the log)");
            }

            if (terminal.StoppedWithWithdrawalInFlight)
            {
                Console.WriteLine("terminal: stopped with a withdrawal unfinished (Terminal:StopTimeout ran out); the next start settles it from the journal");
                return 1;
            }

            Console.WriteLine("terminal: stopped");
            return 0;
        }));
        return command;
    }

    /// <summary>Disposes the rig (if one was started) after the host that uses it.</summary>
    private sealed class RigScope(Func<Rigs.FirmwareSimRig?> rig) : IDisposable
    {
        public void Dispose() => rig()?.Dispose();
    }

    private static Command CreateStatus()
    {
        var json = new Option<bool>("--json") { Description = "Print the status file as JSON (for a monitoring agent)." };
        var command = new Command(
            "status",
            "Say how the running ATM is: in or out of service and why, host and proxy links, SAF depth, device states, cash units and the last warning, "
            + "from the status file the terminal rewrites every Status:Interval (Status:Path, default Terminal:DataDirectory/status.json). Exit code 0 = in service, 1 = out of service, not running or hung.")
        {
            json,
        };
        command.SetAction(parse => CliHost.RunAsync(() =>
        {
            using var host = CliHost.Build(parse, b => b.Services.AddTerminalOptions(b.Configuration));
            var configuration = host.Services.GetRequiredService<IConfiguration>();
            var settings = StatusSettings.Read(configuration, DefaultStatusPath(ReadOptions(host.Services)));
            return Task.FromResult(StatusReport.Print(settings.Path, TimeProvider.System.GetUtcNow(), Console.Out, parse.GetValue(json)));
        }));
        return command;
    }

    private static string DefaultStatusPath(TerminalOptions options) => Path.Combine(options.DataDirectory, "status.json");

    /// <summary>What the monitoring desk sees of the ATM now.</summary>
    internal static RoleStatus Status(AtmTerminal terminal)
    {
        var flow = terminal.Flow;
        var hostReady = terminal.IsHostReady;
        var proxyUp = terminal.IsProxyConnected;
        var state = flow.State == TerminalState.OutOfService
            ? "out of service: " + (flow.OutOfServiceReason ?? (hostReady ? "starting" : "not signed on at the host"))
            : proxyUp ? $"in service ({flow.State})" : "out of service: the proxy link is down, phones cannot reach the ATM";
        var devices = terminal.Devices;
        var dispenser = devices.Dispenser.Status;
        var store = terminal.Reversals.Store;
        return new RoleStatus
        {
            Role = "terminal",
            Name = terminal.Options.AtmId,
            Healthy = flow.State != TerminalState.OutOfService && hostReady && proxyUp,
            State = state,
            Links =
            [
                new StatusItem("host", hostReady ? "signed on" : "down", terminal.HostLinkSecurity),
                new StatusItem("proxy", proxyUp ? "connected" : "down", terminal.ProxyLinkSecurity),
            ],
            SafDepth = store.Depth,
            SafStuck = terminal.Reversals.StuckCount,
            Devices =
            [
                new StatusItem("display", devices.Display.Status.Device.ToString()),
                new StatusItem("keypad", devices.Keypad.Status.Device.ToString()),
                new StatusItem("dispenser", dispenser.Device.ToString(), dispenser.LastFault is null ? dispenser.Dispenser.ToString() : $"{dispenser.Dispenser}, last fault: {dispenser.LastFault}"),
                new StatusItem("sensors", devices.Sensors.Status.Device.ToString(), string.Join(", ", devices.Sensors.Status.Readings.Select(r => $"{r.Id}={r.State}"))),
                .. devices.Dispenser.CashUnits.Select(u => new StatusItem(
                    "cash " + u.Id,
                    u.Status.ToString(),
                    $"{u.Count} x {u.Denomination}, presented {u.Counters.Presented}, rejected {u.Counters.Rejected}, unknown {u.Counters.Unknown}")),
            ],
        };
    }

    /// <summary>The <c>Terminal</c> section, bound and checked by <see cref="TerminalOptionsValidator"/> (registered with <see cref="TerminalServiceCollectionExtensions.AddTerminalOptions"/>).</summary>
    /// <exception cref="Microsoft.Extensions.Options.OptionsValidationException">A setting is wrong; each failure names it.</exception>
    public static TerminalOptions ReadOptions(IServiceProvider services) => services.GetRequiredService<IOptions<TerminalOptions>>().Value;

    /// <summary>An ATM that asks for USD from EUR cassettes would fail every withdrawal: refused at start-up instead.</summary>
    private static void CheckCashUnitCurrency(TerminalOptions options, AtmDevices devices)
    {
        var other = devices.Dispenser.CashUnits.FirstOrDefault(u => !string.Equals(u.Currency.Code, options.Currency, StringComparison.OrdinalIgnoreCase));
        if (other is not null)
        {
            var loaded = string.Join(", ", devices.Dispenser.CashUnits.Select(u => u.Currency.Code).Distinct());
            throw new ConfigurationException(
                $"{TerminalOptions.SectionName}:Currency",
                $"'{options.Currency}' does not match the cash units' currency ({other.Id} holds {other.Currency.Code}); allowed: {loaded}");
        }
    }

    /// <summary>Outside systemd there is no one to notify.</summary>
    private sealed class NoSystemd : ISystemdNotifier
    {
        public static readonly NoSystemd Instance = new();

        public bool IsEnabled => false;

        public void Notify(ServiceState state)
        {
        }
    }

    private sealed class TerminalService(AtmTerminal terminal) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            await using (terminal)
            {
                await terminal.RunAsync(stoppingToken);
            }
        }
    }
}
