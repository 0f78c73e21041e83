using System.CommandLine;
using CardlessAtm.Cli.Demo;
using CardlessAtm.Host.Storage;
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
        var store = new Option<string>("--store") { Description = "The ledger's engine: sqlite (default, a temporary file) or postgres (a fresh database on CARDLESS_DEMO_POSTGRES, else CARDLESS_TEST_POSTGRES).", DefaultValueFactory = _ => "sqlite" };
        var hosts = new Option<int>("--hosts") { Description = "Host instances (default 1, in this process); more than one are host processes on one PostgreSQL database.", DefaultValueFactory = _ => 1 };
        var proxies = new Option<int>("--proxies") { Description = "Proxy instances (default 1, in this process); more than one are proxy processes routed over NATS (CARDLESS_DEMO_NATS, else CARDLESS_TEST_NATS, else nats://127.0.0.1:4222).", DefaultValueFactory = _ => 1 };
        var command = new Command(
            "bench",
            "Load benchmark: N simulated ATMs with phones through proxy and host on loopback (mechanical delays off, durable commits on); "
            + "prints withdrawals per second and the p50/p99 latency from the phone's send to its outcome, then checks the ledger.")
        {
            atms,
            seconds,
            profile,
            store,
            hosts,
            proxies,
        };
        command.SetAction((parse, cancellationToken) => CliHost.RunAsync(async () =>
        {
            if (parse.GetValue(atms) is < 1 or > 200 || parse.GetValue(seconds) is < 1 or > 3600)
            {
                await Console.Error.WriteLineAsync("--atms must be 1–200 and --seconds 1–3600.");
                return 2;
            }

            if (Topology(parse.GetValue(store), parse.GetValue(hosts), parse.GetValue(proxies), parse.GetValue(atms), out var why) is not { } topology)
            {
                await Console.Error.WriteLineAsync(why);
                return 2;
            }

            using var host = CliHost.Build(parse, _ => { });
            var bench = new LoadBench(
                parse.GetValue(atms), TimeSpan.FromSeconds(parse.GetValue(seconds)), SecurityProfiles.ParseKind(parse.GetValue(profile), "--profile"),
                topology, Console.Out, host.Services.GetRequiredService<ILoggerFactory>());
            return await bench.RunAsync(cancellationToken);
        }));
        return command;
    }

    /// <summary>
    /// The topology the options ask for, or null and the one line that says which option cannot be met here: several hosts
    /// share one ledger only on PostgreSQL, several proxies route only over NATS, and each engine must be reachable.
    /// </summary>
    internal static BenchTopology? Topology(string? store, int hosts, int proxies, int atms, out string why)
    {
        why = string.Empty;
        var kind = store?.Trim().ToLowerInvariant() switch
        {
            "sqlite" => HostStoreKind.Sqlite,
            "postgres" or "postgresql" => HostStoreKind.Postgres,
            _ => (HostStoreKind?)null,
        };
        if (kind is null)
        {
            why = $"--store: '{store}' is not a store; use sqlite or postgres.";
        }
        else if (hosts < 1 || hosts > 8 || hosts > atms)
        {
            why = "--hosts must be 1–8 and no more than --atms.";
        }
        else if (proxies < 1 || proxies > 8 || proxies > atms)
        {
            why = "--proxies must be 1–8 and no more than --atms.";
        }
        else if (hosts > 1 && kind != HostStoreKind.Postgres)
        {
            why = $"--hosts {hosts} needs --store postgres: several host processes share one ledger only on PostgreSQL (a SQLite file belongs to one process).";
        }
        else if (kind == HostStoreKind.Postgres && DemoScenario.DemoPostgresConnectionString() is null)
        {
            why = $"--store postgres needs PostgreSQL: set {DemoScenario.DemoPostgresVariable} (or CARDLESS_TEST_POSTGRES) to a connection string of a server where the bench may create a database.";
        }
        else if (proxies > 1 && DemoProxyProcess.WhyNot() is { } nats)
        {
            why = $"--proxies {proxies} routes over NATS, but {nats}.";
        }

        return why.Length > 0 ? null : new BenchTopology(kind!.Value, hosts, proxies, kind == HostStoreKind.Postgres ? DemoScenario.DemoPostgresConnectionString() : null);
    }
}
