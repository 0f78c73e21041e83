using System.Diagnostics;
using System.Globalization;
using CardlessAtm.Devices.Keypad;
using CardlessAtm.Network;
using CardlessAtm.Phone.Enrolment;
using CardlessAtm.Phone.Scanning;
using CardlessAtm.Phone.Withdrawal;
using CardlessAtm.Qr.Sessions;
using CardlessAtm.Security;
using CardlessAtm.Terminal.Flow;
using Microsoft.Extensions.Logging;
using HostStoreKind = CardlessAtm.Host.Storage.HostStoreKind;
using HostStoreOptions = CardlessAtm.Host.Storage.HostStoreOptions;

namespace CardlessAtm.Cli.Demo;

/// <summary>
/// Where <c>cardless-atm bench</c> runs: the ledger's engine and how many host and proxy instances. One host is the
/// in-process host on <see cref="Store"/>; more than one are <c>cardless-atm host run</c> processes on one fresh PostgreSQL
/// database. One proxy is the in-process proxy; more than one are <c>cardless-atm proxy</c> processes routed over NATS.
/// </summary>
/// <param name="Store">The ledger's engine.</param>
/// <param name="Hosts">Host instances (more than one needs PostgreSQL).</param>
/// <param name="Proxies">Proxy instances (more than one routes over NATS).</param>
/// <param name="PostgresServer">For PostgreSQL: a server where the bench may create (and then drops) a database.</param>
internal sealed record BenchTopology(HostStoreKind Store, int Hosts, int Proxies, string? PostgresServer)
{
    /// <summary>Today's bench: SQLite, one host, one proxy, all in this process.</summary>
    public static BenchTopology InProcess { get; } = new(HostStoreKind.Sqlite, 1, 1, null);
}

/// <summary>
/// The load benchmark: N simulated ATMs, each with a phone, through the proxy and the host on loopback, with
/// mechanical delays off and durable commits on. Each ATM runs withdrawals back to back (amount typed on its
/// keypad, QR shown, the phone sends); the latency measured is the phone's: request sent → outcome. On a fleet
/// (<see cref="BenchTopology"/>) the ATMs are spread over the host and proxy processes, each with the others as its
/// failover list, and half of the phones send to a proxy that is not their ATM's, so the NATS route is measured.
/// </summary>
internal sealed class LoadBench(int atms, TimeSpan duration, SecurityProfileKind profile, BenchTopology topology, TextWriter output, ILoggerFactory loggers)
{
    private const string BenchPin = "2580";

    /// <summary>Withdrawals each ATM makes at least before the measured run starts (JIT, TLS, pools), not counted.</summary>
    private const int WarmUpWithdrawals = 5;

    /// <summary>How long the warm-up runs at least (withdrawals back to back, not counted).</summary>
    private static readonly TimeSpan WarmUpTime = TimeSpan.FromSeconds(3);

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        // Read before anything of the run starts: the machine's load as the run found it.
        var load = LoadAverage();
        if (topology.Store != HostStoreKind.Postgres)
        {
            return await RunOnAsync(null, null, load, cancellationToken);
        }

        var server = topology.PostgresServer ?? throw new InvalidOperationException("bench on PostgreSQL without a server");
        var database = "cardless_bench_" + Guid.NewGuid().ToString("N")[..12];
        var connectionString = DemoScenario.CreateDemoDatabase(server, database);
        try
        {
            return await RunOnAsync(new HostStoreOptions { Kind = HostStoreKind.Postgres, ConnectionString = connectionString }, database, load, cancellationToken);
        }
        finally
        {
            DemoScenario.DropDemoDatabase(server, database);
        }
    }

    private async Task<int> RunOnAsync(HostStoreOptions? store, string? database, string load, CancellationToken cancellationToken)
    {
        var engine = store is null ? "SQLite (a temporary file)" : $"PostgreSQL (fresh database {database}, dropped after)";
        output.WriteLine($"Starting {Count(topology.Hosts, "host")}, {Count(topology.Proxies, "proxy", "proxies")} and {atms} ATM(s) on loopback (profile {profile}, ledger {engine}, durable commits)…");

        // Declared first, disposed last: the host and proxy processes stop after the network's terminals did.
        await using var fleet = new Fleet();
        await using var network = await DemoNetwork.StartAsync(profile, loggers, cancellationToken, store: store);
        await StartFleetAsync(fleet, network, store, cancellationToken);
        var hostPorts = topology.Hosts == 1 ? [network.HostPort] : fleet.Hosts.Select(h => h.Port).ToArray();
        var atmPorts = topology.Proxies == 1 ? [network.Proxy.AtmEndPoint.Port] : fleet.Proxies.Select(p => p.AtmPort).ToArray();
        var phonePorts = topology.Proxies == 1 ? [network.Proxy.PhoneEndPoint.Port] : fleet.Proxies.Select(p => p.PhonePort).ToArray();
        output.WriteLine($"Topology: {Describe(network, fleet)}");

        var qrOptions = new QrSessionOptions { Lifetime = TimeSpan.FromMinutes(2) };
        var rigs = new List<Rig>();
        for (var i = 0; i < atms; i++)
        {
            var atmId = i == 0 ? Host.Seeding.DemoSeed.AtmId : string.Create(CultureInfo.InvariantCulture, $"ATMLD{i:D3}");

            // ATM i: proxy i mod P, host (i div P) mod H, so every host meets every proxy; its phone at the next proxy
            // when i and i div P differ in parity: half of the phones, spread over hosts and proxies alike.
            var proxy = i % topology.Proxies;
            var host = i / topology.Proxies % topology.Hosts;
            var routed = topology.Proxies > 1 && (i + (i / topology.Proxies)) % 2 == 1;
            var phoneProxy = routed ? (proxy + 1) % topology.Proxies : proxy;
            var atm = await network.StartTerminalAsync(
                atmId,
                qrOptions,
                cancellationToken,
                deviceMemory: false,
                hostPort: topology.Hosts > 1 ? hostPorts[host] : null,
                hostFailoverPorts: topology.Hosts > 1 ? Others(hostPorts, host) : null,
                proxyPort: topology.Proxies > 1 ? atmPorts[proxy] : null,
                proxyFailoverPorts: topology.Proxies > 1 ? Others(atmPorts, proxy) : null);

            // One customer per ATM, with money and limits for the whole run, and a phone enrolled for it.
            // The phone keeps its DUKPT state in memory: its own storage is the phone's cost, not the network's.
            var account = string.Create(CultureInfo.InvariantCulture, $"9000000{i:D5}");
            await network.Host.Administration.AddAccountAsync(
                new Host.Administration.NewAccount(account, $"Load customer {i}", Host.Seeding.DemoSeed.Currency, 1_000_000_000_00, 1_000_000_000_00, 1_000_000), BenchPin, cancellationToken);
            var provisioning = await network.Host.Administration.EnrolPhoneAsync(account, cancellationToken: cancellationToken);
            using (provisioning.InitialKey)
            {
                var enrolment = PhoneEnrolment.CreateInMemory(network.Profile, provisioning.InitialKey, provisioning.InitialKsn);
                var phone = new CardlessWithdrawalClient(
                    PhoneClientOptions.Pinned(new ProxyEndpoint("127.0.0.1", phonePorts[phoneProxy]), network.Pki.PhonePortPin, DemoAtmPki.PhonePortName), enrolment, network.Profile, loggerFactory: network.Loggers);
                rigs.Add(new Rig(atm, phone, account, routed));
            }

            if (topology.Hosts > 1 || topology.Proxies > 1)
            {
                output.WriteLine(
                    $"  {atmId}: host {Name(host, topology.Hosts)}{FailoverNote(topology.Hosts, host)}, proxy {Name(proxy, topology.Proxies)}{FailoverNote(topology.Proxies, proxy)}, "
                    + $"phone at proxy {Name(phoneProxy, topology.Proxies)}{(routed ? " (routed over NATS)" : string.Empty)}");
            }
        }

        output.WriteLine($"Load average (1 min, /proc/loadavg) before the run: {load} on {Environment.ProcessorCount} core(s).");
        output.WriteLine($"Running for {duration.TotalSeconds:0} s…");

        // Warm-up, not counted: a few withdrawals per ATM so JIT, TLS sessions and connection pools are paid before the
        // counters are read. Its failures still count (every withdrawal of the run must be approved).
        // Time-based as well: the runtime re-compiles hot methods (tier 0 → instrumented → tier 1, on-stack replacement of
        // the QR encoder's loops) for seconds after start-up, and that JIT is start-up, not the cost of a withdrawal.
        using var warmUpTime = new CancellationTokenSource(WarmUpTime);
        var warmUp = await Task.WhenAll(rigs.Select(r => RunAtmAsync(r, warmUpTime.Token, minimum: WarmUpWithdrawals)));
        var before = CpuSnapshot.Take(fleet);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        stop.CancelAfter(duration);
        var results = await Task.WhenAll(rigs.Select(r => RunAtmAsync(r, stop.Token)));
        var after = CpuSnapshot.Take(fleet);
        results = [.. results.Zip(warmUp, (run, warm) => (run.Latencies, run.Failures + warm.Failures, (List<string>)[.. warm.Reasons, .. run.Reasons]))];
        var latencies = results.SelectMany(r => r.Latencies).Order().ToArray();
        var failures = results.Sum(r => r.Failures);
        var seconds = duration.TotalSeconds;
        output.WriteLine($"ATMs: {atms}   completed withdrawals: {latencies.Length}   not approved: {failures}");
        foreach (var reason in results.SelectMany(r => r.Reasons).GroupBy(r => r).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            output.WriteLine($"  not approved: {reason.Count()} × {reason.Key}");
        }

        if (latencies.Length == 0)
        {
            network.QuietTeardown();
            return 1;
        }

        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"throughput: {latencies.Length / seconds:0.0} withdrawals/s   latency phone send → outcome: p50 {Percentile(latencies, 0.50):0.00} ms   p99 {Percentile(latencies, 0.99):0.00} ms   max {latencies[^1]:0.00} ms"));
        output.WriteLine(CpuSnapshot.Describe(before, after, latencies.Length));
        if (rigs.Any(r => r.Routed))
        {
            var local = rigs.Zip(results).Where(p => !p.First.Routed).SelectMany(p => p.Second.Latencies).Order().ToArray();
            var routed = rigs.Zip(results).Where(p => p.First.Routed).SelectMany(p => p.Second.Latencies).Order().ToArray();
            output.WriteLine($"  phone at its ATM's proxy: {Figures(local)}");
            output.WriteLine($"  phone at another proxy (NATS route): {Figures(routed)}");
        }

        // Every withdrawal ended before its ATM stopped, so no reversal should be waiting; give one in flight time to land.
        var saf = await WaitForEmptySafAsync(rigs);
        network.QuietTeardown(); // from here on the roles stop: their goodbyes are not news
        var totals = await network.Host.Administration.GetLedgerTotalsAsync(cancellationToken);
        var presented = rigs.Sum(r => r.Atm.PresentedValue.MinorUnits);
        var debits = totals.ApprovedWithdrawalsMinor - totals.ReversalsMinor;
        var balanced = totals.Balances && presented == debits && saf == 0;
        output.WriteLine(
            $"Ledger: money invariant {(totals.Balances ? "holds" : "BROKEN")}; cash out {Money.Of(presented, "EUR")}; approved debits − reversals {Money.Of(debits, "EUR")}; SAF {saf}.");
        output.WriteLine(balanced ? "Ledger balanced: notes presented = debits − reversals." : "LEDGER NOT BALANCED.");
        return balanced && failures == 0 ? 0 : 1;
    }

    private async Task StartFleetAsync(Fleet fleet, DemoNetwork network, HostStoreOptions? store, CancellationToken cancellationToken)
    {
        if (topology.Hosts > 1)
        {
            var tls = new TlsListenerOptions();
            network.Pki.ConfigureHost(tls);
            for (var i = 0; i < topology.Hosts; i++)
            {
                fleet.Hosts.Add(await DemoHostProcess.StartAsync(Name(i, topology.Hosts), network, store!.ConnectionString!, tls, cancellationToken));
            }
        }

        if (topology.Proxies > 1)
        {
            fleet.Bucket = "bench-" + Guid.NewGuid().ToString("N")[..12];
            for (var i = 0; i < topology.Proxies; i++)
            {
                fleet.Proxies.Add(await DemoProxyProcess.StartAsync(network, Name(i, topology.Proxies).ToLowerInvariant(), fleet.Bucket, TimeSpan.FromSeconds(6), cancellationToken));
            }
        }
    }

    private string Describe(DemoNetwork network, Fleet fleet)
    {
        var hosts = topology.Hosts == 1
            ? $"1 host in this process on 127.0.0.1:{network.HostPort}"
            : $"{topology.Hosts} host processes ({string.Join(", ", fleet.Hosts.Select((h, i) => $"{Name(i, topology.Hosts)} pid {h.ProcessId} on 127.0.0.1:{h.Port}"))}) on one database, each with its own 0600 copy of the KEK";
        var proxies = topology.Proxies == 1
            ? $"1 proxy in this process (ATMs on {network.Proxy.AtmEndPoint.Port}, phones on {network.Proxy.PhoneEndPoint.Port})"
            : $"{topology.Proxies} proxy processes routed over NATS at {DemoProxyProcess.NatsUrl} (bucket {fleet.Bucket}; {string.Join(", ", fleet.Proxies.Select((p, i) => $"{Name(i, topology.Proxies)} ATMs on {p.AtmPort}, phones on {p.PhonePort}"))})";
        var store = topology.Store == HostStoreKind.Postgres ? "PostgreSQL" : "SQLite";
        var operatorHost = topology.Hosts > 1 ? "; the operator's in-process host on the same database adds ATMs, accounts and phones and reads the ledger" : string.Empty;
        return $"ledger {store}; {hosts}; {proxies}; {atms} ATM(s), one phone each{operatorHost}.";
    }

    private static async Task<int> WaitForEmptySafAsync(List<Rig> rigs)
    {
        var started = Stopwatch.GetTimestamp();
        int depth;
        while ((depth = rigs.Sum(r => r.Atm.Terminal.Reversals.Store.Depth)) > 0 && Stopwatch.GetElapsedTime(started) < TimeSpan.FromSeconds(30))
        {
            await Task.Delay(50, CancellationToken.None);
        }

        return depth;
    }

    private static async Task<(List<double> Latencies, int Failures, List<string> Reasons)> RunAtmAsync(Rig rig, CancellationToken stop, int minimum = 0)
    {
        var latencies = new List<double>();
        var failures = 0;
        var reasons = new List<string>();
        var atm = rig.Atm;
        await WaitForAsync(atm, TerminalState.Idle);
        for (var n = 0; n < minimum || !stop.IsCancellationRequested; n++)
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

    /// <summary>The 1-minute load average from /proc/loadavg, or "unknown" where there is none.</summary>
    private static string LoadAverage()
    {
        try
        {
            return File.ReadAllText("/proc/loadavg").Split(' ', 2)[0];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "unknown";
        }
    }

    private static int[] Others(int[] ports, int index) => [.. ports.Skip(index + 1), .. ports.Take(index)];

    private static string Name(int index, int count) => count == 1 ? "1" : ((char)('A' + index)).ToString();

    private static string FailoverNote(int count, int index) => count == 1 ? string.Empty : $" (failover {string.Join(", ", Enumerable.Range(0, count).Where(i => i != index).Select(i => Name(i, count)))})";

    private static string Count(int n, string one, string? many = null) => n == 1 ? $"1 {one}" : $"{n} {many ?? one + "s"}";

    private static string Figures(double[] sorted) => sorted.Length == 0
        ? "none completed"
        : string.Create(CultureInfo.InvariantCulture, $"{sorted.Length} withdrawals, p50 {Percentile(sorted, 0.50):0.00} ms, p99 {Percentile(sorted, 0.99):0.00} ms, max {sorted[^1]:0.00} ms");

    private static double Percentile(double[] sorted, double p) => sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];

    private sealed record Rig(DemoAtm Atm, CardlessWithdrawalClient Phone, string Account, bool Routed);

    /// <summary>
    /// CPU time (user + system) of this process and of each host and proxy process of a fleet, and the bytes this process
    /// has allocated, at one instant: the bench reads one after warm-up and one when the run ends, so start-up is excluded.
    /// </summary>
    private sealed record CpuSnapshot(TimeSpan Self, long Allocated, int Gen0, int Gen1, int Gen2, TimeSpan Jit, long JitMethods, TimeSpan[] Hosts, TimeSpan[] Proxies)
    {
        public static CpuSnapshot Take(Fleet fleet)
        {
            using var self = Process.GetCurrentProcess();
            return new CpuSnapshot(
                self.TotalProcessorTime,
                GC.GetTotalAllocatedBytes(precise: true),
                GC.CollectionCount(0),
                GC.CollectionCount(1),
                GC.CollectionCount(2),
                System.Runtime.JitInfo.GetCompilationTime(),
                System.Runtime.JitInfo.GetCompiledMethodCount(),
                [.. fleet.Hosts.Select(h => h.CpuTime)],
                [.. fleet.Proxies.Select(p => p.CpuTime)]);
        }

        /// <summary>
        /// The summary line: CPU milliseconds per completed withdrawal over all processes of the run (and per process when
        /// there are several), allocated bytes per withdrawal in this process, and the garbage collections of the run.
        /// </summary>
        public static string Describe(CpuSnapshot before, CpuSnapshot after, int withdrawals)
        {
            var self = (after.Self - before.Self).TotalMilliseconds;
            var hosts = after.Hosts.Zip(before.Hosts, (a, b) => (a - b).TotalMilliseconds).ToArray();
            var proxies = after.Proxies.Zip(before.Proxies, (a, b) => (a - b).TotalMilliseconds).ToArray();
            var total = self + hosts.Sum() + proxies.Sum();
            var perRole = hosts.Length + proxies.Length == 0
                ? string.Empty
                : string.Create(CultureInfo.InvariantCulture, $"   per process, ms per withdrawal: bench {self / withdrawals:0.000}")
                  + string.Concat(hosts.Select((h, i) => string.Create(CultureInfo.InvariantCulture, $", host {(char)('A' + i)} {h / withdrawals:0.000}")))
                  + string.Concat(proxies.Select((p, i) => string.Create(CultureInfo.InvariantCulture, $", proxy {(char)('A' + i)} {p / withdrawals:0.000}")));
            return string.Create(
                CultureInfo.InvariantCulture,
                $"cpu: {total / withdrawals:0.000} ms per withdrawal ({total:0} ms process CPU over {withdrawals} withdrawals, warm-up excluded)   "
                + $"allocated: {(after.Allocated - before.Allocated) / (double)withdrawals:0} bytes per withdrawal in this process   "
                + $"gc: {after.Gen0 - before.Gen0}/{after.Gen1 - before.Gen1}/{after.Gen2 - before.Gen2} (gen0/1/2)   "
                + $"jit in the run: {after.JitMethods - before.JitMethods} methods, {(after.Jit - before.Jit).TotalMilliseconds:0} ms{perRole}");
        }
    }

    /// <summary>The host and proxy processes of a fleet run, stopped when the run ends.</summary>
    private sealed class Fleet : IAsyncDisposable
    {
        public List<DemoHostProcess> Hosts { get; } = [];

        public List<DemoProxyProcess> Proxies { get; } = [];

        public string? Bucket { get; set; }

        public async ValueTask DisposeAsync()
        {
            foreach (var proxy in Proxies)
            {
                await proxy.DisposeAsync();
            }

            foreach (var host in Hosts)
            {
                await host.DisposeAsync();
            }
        }
    }
}
