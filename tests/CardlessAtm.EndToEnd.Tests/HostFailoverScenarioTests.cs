using System.Globalization;
using System.Text.RegularExpressions;
using CardlessAtm.Host.Tests.Support;

namespace CardlessAtm.EndToEnd.Tests;

/// <summary>
/// Issue 16 item 3: <c>cardless-atm demo --scenario host-failover</c> as a process — two host processes on one PostgreSQL
/// database, the host the ATMs are on SIGKILLed mid-load — exits 0 only when the ledger read from the database balances,
/// the SAF queues are empty and the cash out equals what the phones were told; without PostgreSQL it says so and is skipped.
/// </summary>
[Collection("processes")]
public sealed class HostFailoverScenarioTests
{
    [PostgresFact]
    public async Task Host_failover_moves_the_ATMs_to_the_second_host_and_the_ledger_balances()
    {
        var (exit, text) = await DemoScenarioTests.RunDemoAsync(
            new Dictionary<string, string?> { ["CARDLESS_DEMO_POSTGRES"] = PostgresTestServer.ConnectionString },
            "--scenario", "host-failover");

        Assert.True(exit == 0, $"exit {exit}\n{text}");
        Assert.Contains("SIGKILL host A (process ", text, StringComparison.Ordinal);
        Assert.Contains("moving to endpoint 127.0.0.1:", text, StringComparison.Ordinal);
        Assert.Contains("Database: money invariant holds;", text, StringComparison.Ordinal);
        Assert.Contains("Ledger balanced", text, StringComparison.Ordinal);

        // Withdrawals were approved on both sides of the kill, every ATM ended on host B with its SAF queue empty, and the
        // cash out equals the debits less reversals in the database and what the phones were told.
        var summary = Regex.Match(text, @"Approved before the kill (\d+), after (\d+); not approved (\d+); reversals at the host (\d+);");
        Assert.True(summary.Success, text);
        Assert.True(int.Parse(summary.Groups[1].Value, CultureInfo.InvariantCulture) > 0, text);
        Assert.True(int.Parse(summary.Groups[2].Value, CultureInfo.InvariantCulture) > 0, text);
        var money = Regex.Match(text, @"approved debits − reversals ([\d.]+) EUR; cash counted out ([\d.]+) EUR; approved amounts the phones were told ([\d.]+) EUR; SAF (\d+)\.");
        Assert.True(money.Success, text);
        Assert.Equal(money.Groups[1].Value, money.Groups[2].Value);
        Assert.Equal(money.Groups[2].Value, money.Groups[3].Value);
        Assert.Equal("0", money.Groups[4].Value);
        var hostB = Regex.Match(text, @"host B: process \d+ on (127\.0\.0\.1:\d+)").Groups[1].Value;
        Assert.Equal(2, Regex.Count(text, $@"now on host {Regex.Escape(hostB)}; cash out [\d.]+ EUR; SAF 0"));
    }

    [Fact]
    public async Task Without_PostgreSQL_host_failover_says_so_in_one_line_and_is_reported_as_skipped()
    {
        var (exit, text) = await DemoScenarioTests.RunDemoAsync(
            new Dictionary<string, string?> { ["CARDLESS_DEMO_POSTGRES"] = null, [PostgresTestServer.VariableName] = null },
            "--scenario", "host-failover");

        Assert.True(exit == 77, $"exit {exit} (77: skipped)\n{text}");
        var line = Assert.Single(text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        Assert.Equal("host-failover skipped: needs PostgreSQL — set CARDLESS_DEMO_POSTGRES (or CARDLESS_TEST_POSTGRES) to a connection string of a server where it may create a database", line);
        Assert.DoesNotContain("Ledger balanced", text, StringComparison.Ordinal);
    }
}
