using System.Diagnostics;
using System.Globalization;
using CardlessAtm.Devices.Keypad;
using CardlessAtm.Phone.Enrolment;
using CardlessAtm.Phone.Scanning;
using CardlessAtm.Phone.Withdrawal;
using CardlessAtm.Qr.Sessions;
using CardlessAtm.Terminal.Flow;

namespace CardlessAtm.Cli.Demo;

/// <summary>
/// proxy-failover: two <c>cardless-atm proxy</c> processes routed over NATS (<c>Proxy:Routing:Kind = Nats</c>), the ATM
/// signed on to proxy A with B in its failover list (<c>Terminal:Proxy:Failover</c>), two phones withdrawing back to back,
/// one through A and one through B; proxy A is SIGKILLed, the ATM dials B, and the phones go on through B. Exit 0 only
/// when every withdrawal after the switch is approved and the ledger balances.
/// </summary>
internal sealed partial class DemoScenario
{
    /// <summary>Why <paramref name="kind"/> cannot run here (an engine it needs is missing), or null.</summary>
    public static string? SkipReason(DemoScenarioKind kind) => kind == DemoScenarioKind.ProxyFailover ? DemoProxyProcess.WhyNot() : null;

    private async Task<int> RunProxyFailoverAsync(DemoNetwork network, CancellationToken cancellationToken)
    {
        if (DemoProxyProcess.WhyNot() is { } why)
        {
            Summary = "skipped: " + why;
            Say($"proxy-failover skipped: {why}.");
            return SkippedExitCode;
        }

        var bucket = "demo-" + Guid.NewGuid().ToString("N")[..12];
        var ownerTtl = TimeSpan.FromSeconds(6);
        Say($"Starting proxies A and B as processes, routed over NATS at {DemoProxyProcess.NatsUrl} (bucket {bucket}, owner TTL {ownerTtl.TotalSeconds:0} s)…");
        await using var a = await DemoProxyProcess.StartAsync(network, "a", bucket, ownerTtl, cancellationToken);
        await using var b = await DemoProxyProcess.StartAsync(network, "b", bucket, ownerTtl, cancellationToken);
        Say($"Proxy A: ATMs on {a.AtmPort}, phones on {a.PhonePort}; proxy B: ATMs on {b.AtmPort}, phones on {b.PhonePort}.");

        var qrOptions = new QrSessionOptions { Lifetime = TimeSpan.FromSeconds(90), ClockSkew = TimeSpan.Zero };
        var atm = await network.StartTerminalAsync(Host.Seeding.DemoSeed.AtmId, qrOptions, cancellationToken, proxyPort: a.AtmPort, proxyFailoverPorts: [b.AtmPort]);
        Say($"ATM {Host.Seeding.DemoSeed.AtmId} signed on to proxy A (proxy B next in Terminal:Proxy:Failover).");

        var account = "900000099999";
        await network.Host.Administration.AddAccountAsync(
            new Host.Administration.NewAccount(account, "Failover customer", Host.Seeding.DemoSeed.Currency, 1_000_000_00, 1_000_000_00, 1_000), FailoverPin, cancellationToken);
        var provisioning = await network.Host.Administration.EnrolPhoneAsync(account, cancellationToken: cancellationToken);
        PhoneEnrolment enrolment;
        using (provisioning.InitialKey)
        {
            enrolment = PhoneEnrolment.CreateInMemory(network.Profile, provisioning.InitialKey, provisioning.InitialKsn);
        }

        var viaA = new CardlessWithdrawalClient(PhoneClientOptions.Pinned(new ProxyEndpoint("127.0.0.1", a.PhonePort), network.Pki.PhonePortPin, DemoAtmPki.PhonePortName), enrolment, network.Profile, loggerFactory: network.Loggers);
        var viaB = new CardlessWithdrawalClient(PhoneClientOptions.Pinned(new ProxyEndpoint("127.0.0.1", b.PhonePort), network.Pki.PhonePortPin, DemoAtmPki.PhonePortName), enrolment, network.Profile, loggerFactory: network.Loggers);

        var approvedBefore = new Dictionary<string, int>(StringComparer.Ordinal) { ["A"] = 0, ["B"] = 0 };
        for (var round = 0; round < 3; round++)
        {
            foreach (var (name, phone) in new[] { ("A", viaA), ("B", viaB) })
            {
                var outcome = await FailoverWithdrawalAsync(atm, phone, cancellationToken);
                Say($"  before the kill, phone at proxy {name}: {outcome.Status} {outcome.ResponseCode}");
                approvedBefore[name] += outcome.Status == WithdrawalStatus.Approved ? 1 : 0;
            }
        }

        Say("SIGKILL proxy A…");
        var killed = Stopwatch.GetTimestamp();
        await a.KillAsync();
        await WaitForProxyLinkAsync(atm, connected: false, cancellationToken);
        await WaitForProxyLinkAsync(atm, connected: true, cancellationToken);
        var reconnected = Stopwatch.GetElapsedTime(killed);
        Say(string.Create(CultureInfo.InvariantCulture, $"The ATM dialled proxy B and signed on {reconnected.TotalSeconds:0.0} s after the kill."));

        var declinedDuringSwitch = 0;
        var approvedAfter = 0;
        var refusedAfter = 0;
        for (var i = 0; i < 4; i++)
        {
            var outcome = await FailoverWithdrawalAsync(atm, viaB, cancellationToken, onRetry: () => declinedDuringSwitch++);
            Say($"  after the kill, phone at proxy B: {outcome.Status} {outcome.ResponseCode}");
            (outcome.Status == WithdrawalStatus.Approved ? ref approvedAfter : ref refusedAfter)++;
        }

        var totals = await network.Host.Administration.GetLedgerTotalsAsync(cancellationToken);
        var presented = atm.PresentedValue.MinorUnits;
        var netDebits = totals.ApprovedWithdrawalsMinor - totals.ReversalsMinor;
        var balanced = totals.Balances && presented == netDebits;
        var routed = approvedBefore["A"] == 3 && approvedBefore["B"] == 3 && approvedAfter == 4;
        Say(string.Empty);
        Say($"Notes presented by the ATM: {CardlessAtm.Money.Of(presented, "EUR")}; approved debits − reversals at the host: {CardlessAtm.Money.Of(netDebits, "EUR")}.");
        var ending = string.Create(CultureInfo.InvariantCulture,
            $"{approvedBefore["A"]}+{approvedBefore["B"]} approved via A+B before SIGKILL of A, ATM on B after {reconnected.TotalSeconds:0.0} s, {approvedAfter} of 4 approved via B after ({declinedDuringSwitch} declined 91 during the switch and retried)");
        Summary = ending + (balanced ? "; ledger balanced" : "; LEDGER NOT BALANCED");
        Say(balanced && routed
            ? $"Ledger balanced: cash out = money debited. Scenario {NameOf(kind)} ended: {ending}."
            : $"Scenario {NameOf(kind)} FAILED ({ending}): ledger consistent={totals.Balances}, balanced={balanced}.");
        ((TeardownQuietLoggerFactory)network.Loggers).Quiet(); // the proxies stop before the terminal does: its redials are expected now
        return balanced && routed ? 0 : 1;
    }

    /// <summary>
    /// One withdrawal of 20 EUR: typed on the ATM, the QR scanned, sent through <paramref name="phone"/>'s proxy. A 91 from
    /// the proxy while the ATM is between proxies leaves the QR on screen: the customer sends again (at most 50 times).
    /// </summary>
    private static async Task<Phone.Withdrawal.WithdrawalOutcome> FailoverWithdrawalAsync(DemoAtm atm, CardlessWithdrawalClient phone, CancellationToken cancellationToken, Action? onRetry = null)
    {
        await atm.Terminal.Flow.WaitForStateAsync(s => s == TerminalState.Idle, Within(cancellationToken));
        var shown = atm.Terminal.Flow.WaitForStateAsync(s => s == TerminalState.QrShown, Within(cancellationToken));
        atm.Hardware.Press(AtmKey.Enter, AtmKey.D2, AtmKey.D0, AtmKey.Enter);
        await shown;
        var session = ScannedSession.FromText(atm.Terminal.Flow.CurrentQrText!);
        for (var attempt = 1; ; attempt++)
        {
            var outcome = await phone.WithdrawAsync(session, "900000099999", WithdrawalInteraction.Automatic(FailoverPin), cancellationToken: cancellationToken);
            if (outcome.Status == WithdrawalStatus.Approved || outcome.ResponseCode != "91" || attempt == 50 || atm.Terminal.Flow.State != TerminalState.QrShown)
            {
                await atm.Terminal.Flow.WaitForStateAsync(s => s == TerminalState.Idle, Within(cancellationToken));
                return outcome;
            }

            onRetry?.Invoke();
            await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken);
        }
    }

    private static async Task WaitForProxyLinkAsync(DemoAtm atm, bool connected, CancellationToken cancellationToken)
    {
        var deadline = Within(cancellationToken);
        while (atm.Terminal.IsProxyConnected != connected)
        {
            await Task.Delay(50, deadline);
        }
    }

    private static CancellationToken Within(CancellationToken cancellationToken)
    {
        var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        return timeout.Token;
    }
}
