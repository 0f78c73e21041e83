using System.CommandLine;
using CardlessAtm.Cli.Demo;
using CardlessAtm.Panel;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CardlessAtm.Cli.Commands;

/// <summary><c>cardless-atm panel</c>: the front panel in the browser (docs/panel.md).</summary>
internal static class PanelCommand
{
    private static readonly string[] DeviceClasses = ["Display", "Keypad", "Dispenser", "Sensors"];

    public static Command Create()
    {
        var demo = new Option<bool>("--demo") { Description = "Start the whole demo network (host, proxy, terminal on the Simulated rig, phones) in this process and serve its panel." };
        var address = new Option<string?>("--address") { Description = "Address to bind (Panel:Address; default 127.0.0.1). Anything but loopback needs Panel:AllowRemote=true and a Panel:Token." };
        var port = new Option<int?>("--port") { Description = "TCP port (Panel:Port; default 0, a free port, printed)." };
        var command = new Command(
            "panel",
            "Serve a front panel in the browser: the ATM screen live, keypad, cash units, journal, fault check, fault switches and phone panes "
            + "that withdraw through the proxy. Loopback only by default; refuses real (non-simulated) devices.")
        {
            demo,
            address,
            port,
        };
        command.SetAction((parse, cancellationToken) => CliHost.RunAsync(async () =>
        {
            using var host = CliHost.Build(parse, _ => { });
            var configuration = host.Services.GetRequiredService<IConfiguration>();
            var options = new PanelOptions();
            configuration.GetSection(PanelOptions.SectionName).Bind(options);
            options.Address = parse.GetValue(address) ?? options.Address;
            options.Port = parse.GetValue(port) ?? options.Port;

            // The configured devices, as `terminal` would build them: the panel never runs next to real ones unless told.
            var kinds = DeviceClasses.ToDictionary(c => c, c => configuration[$"Devices:{c}:Kind"]);
            PanelSafety.EnsureSimulated(kinds, options.AllowRealDevices);
            if (!parse.GetValue(demo))
            {
                throw new UsageException("panel: attaching to a running terminal is not available yet; run `cardless-atm panel --demo` to start the demo network with its panel.");
            }

            await using var panel = await DemoPanel.StartAsync(options, host.Services.GetRequiredService<ILoggerFactory>(), cancellationToken);
            var url = panel.Server.Url;
            Console.WriteLine($"Front panel of {panel.Atm.Terminal.Options.AtmId} (demo network, Simulated rig): {url}" + (string.IsNullOrEmpty(options.Token) ? string.Empty : "?token=<Panel:Token>"));
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
