using System.Globalization;
using System.Text.RegularExpressions;
using CardlessAtm.Host.Tests.Support;
using CardlessAtm.Tests.Shared;

namespace CardlessAtm.EndToEnd.Tests;

/// <summary>
/// Issue 16: <c>cardless-atm bench --store postgres --hosts 2 --proxies 2</c> as a process — two host processes on a fresh
/// PostgreSQL database, two proxy processes on the real nats-server, half the phones routed to the other proxy — ends with
/// the ledger balanced and every withdrawal approved. No figure is asserted: the run's speed is the machine's.
/// </summary>
[Collection("processes")]
public sealed class FleetBenchTests
{
    [PostgresAndNatsFact]
    public async Task The_fleet_bench_runs_two_hosts_and_two_proxies_and_the_ledger_balances()
    {
        var (exit, text) = await DemoScenarioTests.RunCliAsync(
            new Dictionary<string, string?> { ["CARDLESS_DEMO_POSTGRES"] = PostgresTestServer.ConnectionString, ["CARDLESS_DEMO_NATS"] = NatsTestServer.Url },
            "bench", "--store", "postgres", "--hosts", "2", "--proxies", "2", "--atms", "4", "--seconds", "3");

        Assert.True(exit == 0, $"exit {exit}\n{text}");
        Assert.Contains("Topology: ledger PostgreSQL; 2 host processes (A pid ", text, StringComparison.Ordinal);
        Assert.Contains("2 proxy processes routed over NATS at ", text, StringComparison.Ordinal);
        Assert.Equal(2, Regex.Count(text, @"phone at proxy [AB] \(routed over NATS\)"));
        var completed = Regex.Match(text, @"ATMs: 4   completed withdrawals: (\d+)   not approved: 0");
        Assert.True(completed.Success, text);
        Assert.True(int.Parse(completed.Groups[1].Value, CultureInfo.InvariantCulture) > 0, text);
        Assert.Matches(@"phone at another proxy \(NATS route\): [1-9]\d* withdrawals", text);
        Assert.Matches(@"per process, ms per withdrawal: bench \d+\.\d{3}, host A \d+\.\d{3}, host B \d+\.\d{3}, proxy A \d+\.\d{3}, proxy B \d+\.\d{3}", text);
        Assert.Matches(@"Ledger: money invariant holds; cash out ([\d.]+) EUR; approved debits − reversals \1 EUR; SAF 0\.", text);
        Assert.Contains("Ledger balanced: notes presented = debits − reversals.", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_bench_summary_carries_cpu_milliseconds_and_allocated_bytes_per_withdrawal()
    {
        var (exit, text) = await DemoScenarioTests.RunCliAsync(null, "bench", "--atms", "2", "--seconds", "1");

        Assert.True(exit == 0, $"exit {exit}\n{text}");
        var completed = Regex.Match(text, @"ATMs: 2   completed withdrawals: (\d+)   not approved: 0");
        Assert.True(completed.Success, text);
        var cpu = Regex.Match(text, @"cpu: (\d+\.\d{3}) ms per withdrawal \((\d+) ms process CPU over (\d+) withdrawals, warm-up excluded\)   allocated: (\d+) bytes per withdrawal in this process   gc: \d+/\d+/\d+ \(gen0/1/2\)   jit in the run: \d+ methods, \d+ ms");
        Assert.True(cpu.Success, text);
        Assert.Equal(completed.Groups[1].Value, cpu.Groups[3].Value);
        Assert.True(double.Parse(cpu.Groups[1].Value, CultureInfo.InvariantCulture) > 0, text);
        Assert.True(long.Parse(cpu.Groups[4].Value, CultureInfo.InvariantCulture) > 0, text);
        Assert.Contains("Ledger balanced: notes presented = debits − reversals.", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Two_hosts_on_SQLite_are_refused_in_one_line_naming_the_option()
    {
        var (exit, text) = await DemoScenarioTests.RunCliAsync(null, "bench", "--hosts", "2", "--atms", "4", "--seconds", "1");

        Assert.True(exit == 2, $"exit {exit}\n{text}");
        var line = Assert.Single(text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        Assert.Equal("--hosts 2 needs --store postgres: several host processes share one ledger only on PostgreSQL (a SQLite file belongs to one process).", line);
    }
}

/// <summary>A fact that needs both the PostgreSQL server of <see cref="PostgresTestServer"/> and the nats-server of <see cref="NatsTestServer"/> (xunit takes one fact attribute per test).</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class PostgresAndNatsFactAttribute : FactAttribute
{
    public PostgresAndNatsFactAttribute()
    {
        if ((PostgresTestServer.SkipReason ?? NatsTestServer.SkipReason) is { } reason)
        {
            Skip = reason;
        }
    }
}
