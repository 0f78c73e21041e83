using CardlessAtm.Tests.Shared;

namespace CardlessAtm.EndToEnd.Tests;

/// <summary>
/// <c>cardless-atm demo --scenario proxy-failover</c> as a process: two proxy processes routed over the real nats-server
/// of <c>CARDLESS_TEST_NATS</c>, proxy A SIGKILLed under the phones, the ATM on B, the ledger balanced.
/// </summary>
[Collection("processes")]
public class ProxyFailoverTests
{
    [NatsFact]
    public async Task Proxy_A_killed_under_the_phones_the_ATM_moves_to_proxy_B_and_every_later_withdrawal_is_routed_and_balanced()
    {
        var (exit, text) = await DemoScenarioTests.RunDemoAsync(
            new Dictionary<string, string?> { ["CARDLESS_DEMO_NATS"] = NatsTestServer.Url }, "--scenario", "proxy-failover");

        Assert.True(exit == 0, $"exit {exit}\n{text}");
        Assert.Contains("before the kill, phone at proxy B: Approved 00", text, StringComparison.Ordinal);
        Assert.Contains("SIGKILL proxy A", text, StringComparison.Ordinal);
        Assert.Contains("The ATM dialled proxy B and signed on", text, StringComparison.Ordinal);
        Assert.Contains("3+3 approved via A+B before SIGKILL of A", text, StringComparison.Ordinal);
        Assert.Contains("4 of 4 approved via B after", text, StringComparison.Ordinal);
        Assert.Contains("Ledger balanced: cash out = money debited. Scenario proxy-failover ended", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_a_reachable_nats_server_the_scenario_says_so_in_one_line_and_is_skipped()
    {
        var (exit, text) = await DemoScenarioTests.RunDemoAsync(
            new Dictionary<string, string?> { ["CARDLESS_DEMO_NATS"] = "nats://127.0.0.1:1" }, "--scenario", "proxy-failover");

        Assert.True(exit == 77, $"exit {exit} (77: skipped, as host-failover without PostgreSQL)\n{text}");
        Assert.Single(text.Split('\n'), l => l.StartsWith("proxy-failover skipped: no nats-server answers at 127.0.0.1:1", StringComparison.Ordinal));
        Assert.DoesNotContain("SIGKILL", text, StringComparison.Ordinal);
    }
}
