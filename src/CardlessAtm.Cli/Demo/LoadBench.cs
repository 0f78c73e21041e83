using System.Diagnostics;
using System.Globalization;
using CardlessAtm.Devices.Keypad;
using CardlessAtm.Phone.Enrolment;
using CardlessAtm.Phone.Scanning;
using CardlessAtm.Phone.Withdrawal;
using CardlessAtm.Qr.Sessions;
using CardlessAtm.Security;
using CardlessAtm.Terminal.Flow;
using Microsoft.Extensions.Logging;

namespace CardlessAtm.Cli.Demo;

/// <summary>
/// The load benchmark: N simulated ATMs, each with a phone, through the proxy and the host on loopback, with
/// mechanical delays off and durable commits on. Each ATM runs withdrawals back to back (amount typed on its
/// keypad, QR shown, the phone sends); the latency measured is the phone's: request sent → outcome.
/// </summary>
internal sealed class LoadBench(int atms, TimeSpan duration, SecurityProfileKind profile, TextWriter output, ILoggerFactory loggers)
{
    private const string BenchPin = "2580";

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        output.WriteLine($"Starting host, proxy and {atms} ATM(s) on loopback (profile {profile}, durable commits)…");
        await using var network = await DemoNetwork.StartAsync(profile, loggers, cancellationToken);
        var qrOptions = new QrSessionOptions { Lifetime = TimeSpan.FromMinutes(2) };
        var rigs = new List<Rig>();
        for (var i = 0; i < atms; i++)
        {
            var atmId = i == 0 ? Host.Seeding.DemoSeed.AtmId : string.Create(CultureInfo.InvariantCulture, $"ATMLD{i:D3}");
            var atm = await network.StartTerminalAsync(atmId, qrOptions, cancellationToken, deviceMemory: false);

            // One customer per ATM, with money and limits for the whole run, and a phone enrolled for it.
            // The phone keeps its DUKPT state in memory: its own storage is the phone's cost, not the network's.
            var account = string.Create(CultureInfo.InvariantCulture, $"9000000{i:D5}");
            await network.Host.Administration.AddAccountAsync(
                new Host.Administration.NewAccount(account, $"Load customer {i}", Host.Seeding.DemoSeed.Currency, 1_000_000_000_00, 1_000_000_000_00, 1_000_000), BenchPin, cancellationToken);
            var provisioning = await network.Host.Administration.EnrolPhoneAsync(account, cancellationToken: cancellationToken);
            using (provisioning.InitialKey)
            {
                var enrolment = PhoneEnrolment.CreateInMemory(network.Profile, provisioning.InitialKey, provisioning.InitialKsn);
                rigs.Add(new Rig(atm, network.PhoneClient(enrolment), account));
            }
        }

        output.WriteLine($"Running for {duration.TotalSeconds:0} s…");
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        stop.CancelAfter(duration);
        var results = await Task.WhenAll(rigs.Select(r => RunAtmAsync(r, stop.Token)));
        var latencies = results.SelectMany(r => r.Latencies).Order().ToArray();
        var failures = results.Sum(r => r.Failures);
        var seconds = duration.TotalSeconds;
        output.WriteLine($"ATMs: {atms}   completed withdrawals: {latencies.Length}   not approved: {failures}");
        foreach (var reason in results.SelectMany(r => r.Reasons).GroupBy(r => r))
        {
            output.WriteLine($"  not approved: {reason.Count()} × {reason.Key}");
        }

        if (latencies.Length == 0)
        {
            return 1;
        }

        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"throughput: {latencies.Length / seconds:0.0} withdrawals/s   latency phone send → outcome: p50 {Percentile(latencies, 0.50):0.00} ms   p99 {Percentile(latencies, 0.99):0.00} ms   max {latencies[^1]:0.00} ms"));
        var totals = await network.Host.Administration.GetLedgerTotalsAsync(cancellationToken);
        var presented = rigs.Sum(r => r.Atm.PresentedValue.MinorUnits);
        var balanced = totals.Balances && presented == totals.ApprovedWithdrawalsMinor - totals.ReversalsMinor;
        output.WriteLine(balanced ? "Ledger balanced: notes presented = debits − reversals." : "LEDGER NOT BALANCED.");
        return balanced && failures == 0 ? 0 : 1;
    }

    private static async Task<(List<double> Latencies, int Failures, List<string> Reasons)> RunAtmAsync(Rig rig, CancellationToken stop)
    {
        var latencies = new List<double>();
        var failures = 0;
        var reasons = new List<string>();
        var atm = rig.Atm;
        await WaitForAsync(atm, TerminalState.Idle);
        while (!stop.IsCancellationRequested)
        {
            var shown = WaitForAsync(atm, TerminalState.QrShown);
            atm.Hardware.Press(AtmKey.Enter, AtmKey.D2, AtmKey.D0, AtmKey.Enter);
            await shown;
            var qr = atm.Terminal.Flow.CurrentQrText!;
            var session = ScannedSession.FromText(qr);
            var started = Stopwatch.GetTimestamp();
            var outcome = await rig.Phone.WithdrawAsync(session, rig.Account, WithdrawalInteraction.Automatic(BenchPin), cancellationToken: CancellationToken.None);
            var elapsed = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            if (outcome.Status == WithdrawalStatus.Approved)
            {
                latencies.Add(elapsed);
            }
            else
            {
                failures++;
                reasons.Add($"{outcome.Status} {outcome.ResponseCode}");
            }

            await WaitForAsync(atm, TerminalState.Idle);
        }

        return (latencies, failures, reasons);
    }

    private static async Task WaitForAsync(DemoAtm atm, TerminalState state)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await atm.Terminal.Flow.WaitForStateAsync(s => s == state, timeout.Token);
    }

    private sealed record Rig(DemoAtm Atm, CardlessWithdrawalClient Phone, string Account);

    private static double Percentile(double[] sorted, double p) => sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
}
