using System.CommandLine;
using CardlessAtm.Proxy;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

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
                var proxy = await host.Services.GetRequiredService<ProxyHostedService>().StartProxyAsync(cancellationToken);
                await host.StartAsync(cancellationToken);
                Console.WriteLine($"proxy: ATMs on {proxy.AtmEndPoint}, phones on {proxy.PhoneEndPoint}");
                await host.WaitForShutdownAsync(cancellationToken);
                Console.WriteLine("proxy: stopped");
                return 0;
            }
        }));
        return command;
    }
}
