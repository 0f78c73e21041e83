using System.CommandLine;
using CardlessAtm.Cli.Hosting;
using CardlessAtm.Proxy;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace CardlessAtm.Cli.Commands;

/// <summary><c>cardless-atm proxy</c>: runs the phone-to-ATM proxy until stopped (Ctrl+C, SIGTERM or systemd).</summary>
internal static class ProxyCommand
{
    public static Command Create()
    {
        var atmPort = new Option<int?>("--atm-port") { Description = $"Port ATMs dial in to (overrides Proxy:Atm:Port; default {ProxyOptions.DefaultAtmPort}; 0 picks a free one)." };
        var phonePort = new Option<int?>("--phone-port") { Description = $"Port phones send requests to (overrides Proxy:Phone:Port; default {ProxyOptions.DefaultPhonePort}; 0 picks a free one)." };
        var command = new Command(
            "proxy",
            "Run the proxy: ATMs dial in and sign on with their id, phones' 0200 requests are forwarded to the ATM named in field 41 and its answer relayed back. "
            + "Settings: the Proxy section (see docs/proxy.md). Prints the listening endpoints on standard output. Exit code 0 = stopped cleanly, 2 = configuration error.")
        {
            atmPort,
            phonePort,
        };
        command.SetAction((parse, cancellationToken) => CliHost.RunAsync(async () =>
        {
            var host = CliHost.Build(parse, b =>
            {
                b.Services.AddSystemd();
                b.Services.AddProxy(b.Configuration, o =>
                {
                    o.Atm.Port = parse.GetValue(atmPort) ?? o.Atm.Port;
                    o.Phone.Port = parse.GetValue(phonePort) ?? o.Phone.Port;
                });
            });
            using (host)
            {
                // Options are bound and the listeners opened here, so a bad setting is reported in one line, not as a host failure.
                var statusSettings = StatusSettings.Read(host.Services.GetRequiredService<IConfiguration>(), StatusSettings.UserDefault("proxy"));
                var proxy = await host.Services.GetRequiredService<ProxyHostedService>().StartProxyAsync(cancellationToken);
                await host.StartAsync(cancellationToken);
                await using (StatusFileWriter.Start(
                    statusSettings, () => Status(proxy), host.Services.GetRequiredService<LastProblemLog>(), TimeProvider.System, host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("CardlessAtm.Status")))
                {
                    Console.WriteLine($"proxy: ATMs on {proxy.AtmEndPoint}, phones on {proxy.PhoneEndPoint}");
                    await host.WaitForShutdownAsync(cancellationToken);
                }

                Console.WriteLine("proxy: stopped");
                return 0;
            }
        }));
        command.Subcommands.Add(CreateStatus());
        command.Subcommands.Add(Aes256KeyFileCommand.Create(
            "fleet-key",
            "Generate the fleet key (AES-256) that authenticates the messages between the proxies of a NATS-routed fleet (Proxy:Routing:Kind = Nats). Prints its check value only.",
            "The fleet key file to write (name ending .key; mode 0600, its directory 0700). Copy it to every proxy of the fleet as Proxy:Routing:Nats:FleetKeyPath.",
            (path, kcv) => $"Fleet key written to {path} (mode 0600), KCV {kcv}; set Proxy:Routing:Nats:FleetKeyPath to it on every proxy of the fleet"));
        return command;
    }

    private static Command CreateStatus()
    {
        var json = new Option<bool>("--json") { Description = "Print the status file as JSON (for a monitoring agent)." };
        var command = new Command("status", "Say whether the proxy runs: its ports, the ATMs online and the last warning, from the status file the proxy rewrites every Status:Interval (Status:Path, default ~/.local/share/cardless-atm/proxy-status.json). Exit code 0 = listening, 1 = not running, hung or stopped.") { json };
        command.SetAction(parse => CliHost.RunAsync(() =>
        {
            using var host = CliHost.Build(parse, _ => { });
            var settings = StatusSettings.Read(host.Services.GetRequiredService<IConfiguration>(), StatusSettings.UserDefault("proxy"));
            return Task.FromResult(StatusReport.Print(settings.Path, TimeProvider.System.GetUtcNow(), Console.Out, parse.GetValue(json)));
        }));
        return command;
    }

    private static RoleStatus Status(ProxyServer proxy)
    {
        var online = proxy.OnlineAtms;
        var shown = string.Join(", ", online.Order(StringComparer.Ordinal).Take(20)) + (online.Count > 20 ? ", …" : string.Empty);
        return new RoleStatus
        {
            Role = "proxy",
            Name = $"ATMs on {proxy.AtmEndPoint}, phones on {proxy.PhoneEndPoint}",
            Healthy = true,
            State = "listening",
            Links = [new StatusItem("ATMs", "listening", proxy.AtmEndPoint.ToString()), new StatusItem("phones", "listening", proxy.PhoneEndPoint.ToString())],
            Figures =
            [
                new StatusItem("ATMs online", online.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), online.Count == 0 ? null : shown),
                new StatusItem("ATMs known", proxy.KnownAtmCount.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            ],
        };
    }
}
