using System.CommandLine;
using CardlessAtm.Cli.Demo;
using CardlessAtm.Security;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CardlessAtm.Cli.Commands;

/// <summary><c>cardless-atm bench</c>: the end-to-end load benchmark.</summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var atms = new Option<int>("--atms", "-n") { Description = "Simulated ATMs, each with its own phone (default 8).", DefaultValueFactory = _ => 8 };
        var seconds = new Option<int>("--seconds") { Description = "How long to run (default 20).", DefaultValueFactory = _ => 20 };
        var profile = new Option<string>("--profile") { Description = "Security profile: Aes (default) or Legacy3Des.", DefaultValueFactory = _ => "Aes" };
        var command = new Command(
            "bench",
            "Load benchmark: N simulated ATMs with phones through proxy and host on loopback (mechanical delays off, durable commits on); "
            + "prints withdrawals per second and the p50/p99 latency from the phone's send to its outcome, then checks the ledger.")
        {
            atms,
            seconds,
            profile,
        };
        command.SetAction((parse, cancellationToken) => CliHost.RunAsync(async () =>
        {
            if (parse.GetValue(atms) is < 1 or > 200 || parse.GetValue(seconds) is < 1 or > 3600)
            {
                await Console.Error.WriteLineAsync("--atms must be 1–200 and --seconds 1–3600.");
                return 2;
            }

            using var host = CliHost.Build(parse, _ => { });
            var bench = new LoadBench(
                parse.GetValue(atms), TimeSpan.FromSeconds(parse.GetValue(seconds)), SecurityProfiles.ParseKind(parse.GetValue(profile), "--profile"),
                Console.Out, host.Services.GetRequiredService<ILoggerFactory>());
            return await bench.RunAsync(cancellationToken);
        }));
        return command;
    }
}
