using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using CardlessAtm.Devices.Keypad;
using CardlessAtm.Host.Storage;
using CardlessAtm.Network;
using CardlessAtm.Phone.Scanning;
using CardlessAtm.Phone.Withdrawal;
using CardlessAtm.Qr.Sessions;
using CardlessAtm.Terminal.Flow;
using Npgsql;

namespace CardlessAtm.Cli.Demo;

/// <summary>
/// <c>--scenario host-failover</c>: two <c>cardless-atm host run</c> processes on one fresh PostgreSQL database and one key
/// vault, two ATMs configured with host A first and host B as <c>Terminal:Host:Failover:0</c>, phones withdrawing back to
/// back through the proxy. Mid-load, while a withdrawal is being authorised, host A is SIGKILLed: the ATMs move to host B,
/// sign on and change keys there, forward the reversals of the withdrawals whose answer was lost, and serve on. Exit 0 only
/// when the ledger read from the database balances, every SAF queue is empty and the cash counted out equals the approved
/// amounts the phones were told.
/// </summary>
internal sealed partial class DemoScenario
{
    /// <summary>The exit code of a scenario that could not run here (no PostgreSQL): neither passed nor failed.</summary>
    public const int SkippedExitCode = 77;

    /// <summary>Where the scenario finds PostgreSQL: a connection string to a server where it may create a database.</summary>
    public const string DemoPostgresVariable = "CARDLESS_DEMO_POSTGRES";

    private const string TestPostgresVariable = "CARDLESS_TEST_POSTGRES";
    private const int FailoverAtms = 2;
    private const int FailoverAmountMajor = 20;
    private const int ApprovalsBeforeKill = 6;
    private const int ApprovalsAfterKill = 6;
    private const string FailoverPin = "2580";

    /// <summary>The connection string the host-failover scenario uses, or null when neither variable is set.</summary>
    public static string? DemoPostgresConnectionString() =>
        Environment.GetEnvironmentVariable(DemoPostgresVariable) is { Length: > 0 } demo ? demo
        : Environment.GetEnvironmentVariable(TestPostgresVariable) is { Length: > 0 } test ? test
        : null;

    private async Task<int> RunHostFailoverAsync(CancellationToken cancellationToken)
    {
        if (DemoPostgresConnectionString() is not { } server)
        {
            Summary = $"skipped: needs PostgreSQL — set {DemoPostgresVariable} (or {TestPostgresVariable}) to a connection string of a server where it may create a database";
            Say($"host-failover {Summary}");
            return SkippedExitCode;
        }

        var database = "cardless_demo_" + Guid.NewGuid().ToString("N")[..12];
        var connectionString = CreateDemoDatabase(server, database);
        try
        {
            return await RunHostFailoverOnAsync(connectionString, cancellationToken);
        }
        finally
        {
            DropDemoDatabase(server, database);
        }
    }

    private async Task<int> RunHostFailoverOnAsync(string connectionString, CancellationToken cancellationToken)
    {
        Say($"Starting on loopback: the operator's host administration, a proxy and {FailoverAtms} ATMs (simulated devices, whatever --rig) on a fresh PostgreSQL database; two host processes A and B on it…");
        var store = new HostStoreOptions { Kind = HostStoreKind.Postgres, ConnectionString = connectionString };
        await using var network = await DemoNetwork.StartAsync(profile, loggers, cancellationToken, store: store);
        var tls = new TlsListenerOptions();
        network.Pki.ConfigureHost(tls);
        await using var hostA = await DemoHostProcess.StartAsync("A", network, connectionString, tls, cancellationToken);
        await using var hostB = await DemoHostProcess.StartAsync("B", network, connectionString, tls, cancellationToken);
        Say($"  host A: process {hostA.ProcessId} on 127.0.0.1:{hostA.Port}; host B: process {hostB.ProcessId} on 127.0.0.1:{hostB.Port}; one database and its key vault, each host with its own copy of the KEK");

        var qrOptions = new QrSessionOptions { Lifetime = TimeSpan.FromMinutes(2) };
        var rigs = new List<FailoverRig>();
        for (var i = 0; i < FailoverAtms; i++)
        {
            var atmId = i == 0 ? Host.Seeding.DemoSeed.AtmId : string.Create(CultureInfo.InvariantCulture, $"ATMFO{i:D3}");
            var atm = await network.StartTerminalAsync(atmId, qrOptions, cancellationToken, deviceMemory: false, hostPort: hostA.Port, hostFailoverPorts: [hostB.Port]);
            var account = string.Create(CultureInfo.InvariantCulture, $"9100000{i:D5}");
            await network.Host.Administration.AddAccountAsync(
                new Host.Administration.NewAccount(account, $"Failover customer {i}", Host.Seeding.DemoSeed.Currency, 1_000_000_00, 1_000_000_00, 1_000_000), FailoverPin, cancellationToken);
            var provisioning = await network.Host.Administration.EnrolPhoneAsync(account, cancellationToken: cancellationToken);
            using (provisioning.InitialKey)
            {
                rigs.Add(new FailoverRig(atmId, atm, network.PhoneClient(Phone.Enrolment.PhoneEnrolment.CreateInMemory(network.Profile, provisioning.InitialKey, provisioning.InitialKsn)), account));
            }

            Say($"  {atmId}: Terminal:Host 127.0.0.1:{hostA.Port}, Terminal:Host:Failover:0 127.0.0.1:{hostB.Port}; signed on to {atm.Terminal.HostEndpoint}");
        }

        var opening = await network.Host.Administration.GetLedgerTotalsAsync(cancellationToken);
        var load = new FailoverLoad();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        Say($"Load: each ATM serves {FailoverAmountMajor} EUR withdrawals back to back (amount on the keypad, QR, the phone through the proxy).");
        var workers = rigs.Select(r => Task.Run(() => RunFailoverAtmAsync(r, load, stop.Token), CancellationToken.None)).ToArray();

        // The kill: once the load is running, at a moment a withdrawal is being authorised at host A.
        await WaitForConditionAsync(() => load.Approved >= ApprovalsBeforeKill, TimeSpan.FromSeconds(120), "the first approvals", workers);
        await WaitForConditionAsync(() => rigs.Any(r => r.Atm.Terminal.Flow.State == TerminalState.Authorising), TimeSpan.FromSeconds(60), "a withdrawal being authorised", workers);
        hostA.Kill();
        var killedAt = Stopwatch.GetTimestamp();
        load.MarkKilled(killedAt);
        Say($"SIGKILL host A (process {hostA.ProcessId}) with a withdrawal being authorised; {load.Approved} approved so far.");

        await WaitForConditionAsync(() => load.ApprovedAfterKill >= ApprovalsAfterKill, TimeSpan.FromSeconds(180), $"{ApprovalsAfterKill} approvals after the kill", workers);
        await stop.CancelAsync();
        await Task.WhenAll(workers);
        foreach (var rig in rigs)
        {
            await WaitForReversalsAsync(rig.Atm, cancellationToken);
        }

        network.QuietTeardown(); // host A's port refuses from now on, and host B stops with the scenario: expected, not news
        var totals = await network.Host.Administration.GetLedgerTotalsAsync(cancellationToken);
        var presented = rigs.Sum(r => r.Atm.PresentedValue.MinorUnits);
        var debits = (totals.ApprovedWithdrawalsMinor - totals.ReversalsMinor) - (opening.ApprovedWithdrawalsMinor - opening.ReversalsMinor);
        var told = load.ApprovedMinor;
        var saf = rigs.Sum(r => r.Atm.Terminal.Reversals.Store.Depth);
        var reversals = CountRows(connectionString, "reversals");
        var onB = rigs.All(r => r.Atm.Terminal.HostEndpoint.Port == hostB.Port);
        var recovered = load.RecoveredAfter;
        var balanced = totals.Balances && saf == 0 && presented == debits && presented == told && !hostB.HasExited && onB;

        Say(string.Empty);
        foreach (var rig in rigs)
        {
            Say($"  {rig.AtmId}: now on host {rig.Atm.Terminal.HostEndpoint}; cash out {Money.Of(rig.Atm.PresentedValue.MinorUnits, "EUR")}; SAF {rig.Atm.Terminal.Reversals.Store.Depth}");
        }

        foreach (var reason in load.Refusals.GroupBy(r => r).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            Say($"  not approved: {reason.Count()} × {reason.Key}");
        }

        Say($"Approved before the kill {load.ApprovedBeforeKill}, after {load.ApprovedAfterKill}; not approved {load.Refusals.Length}; reversals at the host {reversals}; "
            + $"first approval {(recovered is { } r1 ? r1.TotalSeconds.ToString("F1", CultureInfo.InvariantCulture) + " s" : "never")} after the kill.");
        Say($"Database: money invariant {(totals.Balances ? "holds" : "BROKEN")}; approved debits − reversals {Money.Of(debits, "EUR")}; cash counted out {Money.Of(presented, "EUR")}; approved amounts the phones were told {Money.Of(told, "EUR")}; SAF {saf}.");
        Summary = string.Create(
            CultureInfo.InvariantCulture,
            $"host A SIGKILLed mid-load, {FailoverAtms} ATMs moved to host B{(onB ? string.Empty : " (NOT all)")}: approved {load.ApprovedBeforeKill} before, {load.ApprovedAfterKill} after, {reversals} reversal(s), recovered in {(recovered is { } r2 ? r2.TotalSeconds.ToString("F1", CultureInfo.InvariantCulture) + " s" : "—")}; cash out {presented / 100m:0.00} EUR = debits − reversals {debits / 100m:0.00} EUR, SAF {saf}; {(balanced ? "ledger balanced" : "LEDGER NOT BALANCED")}");
        Say(balanced ? "Ledger balanced: the invariant holds in the database, the SAF queues are empty, cash out = approved debits − reversals = what the phones were told." : "LEDGER NOT BALANCED.");
        return balanced ? 0 : 1;
    }

    private static async Task RunFailoverAtmAsync(FailoverRig rig, FailoverLoad load, CancellationToken stop)
    {
        var atm = rig.Atm;
        while (!stop.IsCancellationRequested)
        {
            // After the kill the ATM is out of service until it signed on at host B: a generous wait, not a speed requirement.
            if (!await TryWaitForStateAsync(atm, TerminalState.Idle, TimeSpan.FromSeconds(120), stop))
            {
                continue;
            }

            var shown = TryWaitForStateAsync(atm, TerminalState.QrShown, TimeSpan.FromSeconds(30), CancellationToken.None);
            atm.Hardware.Press(AtmKey.Enter, AtmKey.D2, AtmKey.D0, AtmKey.Enter);
            if (!await shown)
            {
                load.Refuse("no QR (the ATM left idle before the amount was typed)");
                continue;
            }

            var session = ScannedSession.FromText(atm.Terminal.Flow.CurrentQrText!);
            var outcome = await rig.Phone.WithdrawAsync(session, rig.Account, WithdrawalInteraction.Automatic(FailoverPin), cancellationToken: CancellationToken.None);
            if (outcome.Status == WithdrawalStatus.Approved)
            {
                load.Approve(FailoverAmountMajor * 100L);
            }
            else
            {
                load.Refuse($"{outcome.Status} {outcome.ResponseCode}");
            }
        }
    }

    private static async Task<bool> TryWaitForStateAsync(DemoAtm atm, TerminalState state, TimeSpan limit, CancellationToken stop)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stop);
        timeout.CancelAfter(limit);
        try
        {
            await atm.Terminal.Flow.WaitForStateAsync(s => s == state, timeout.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private static async Task WaitForConditionAsync(Func<bool> condition, TimeSpan limit, string what, Task[] workers)
    {
        var deadline = Stopwatch.GetTimestamp();
        while (!condition())
        {
            if (workers.FirstOrDefault(w => w.IsFaulted) is { } failed)
            {
                await failed;
            }

            if (Stopwatch.GetElapsedTime(deadline) > limit)
            {
                throw new TimeoutException($"host-failover: gave up waiting for {what} after {limit.TotalSeconds:0} s.");
            }

            await Task.Delay(20, CancellationToken.None);
        }
    }

    private static long CountRows(string connectionString, string table)
    {
        using var connection = new NpgsqlConnection(connectionString);
        connection.Open();
        using var count = new NpgsqlCommand($"SELECT count(*) FROM {table}", connection);
        return (long)count.ExecuteScalar()!;
    }

    /// <summary>Creates <paramref name="database"/> on <paramref name="server"/> and returns its connection string (host-failover, <c>bench --store postgres</c>).</summary>
    internal static string CreateDemoDatabase(string server, string database)
    {
        try
        {
            using var connection = new NpgsqlConnection(server);
            connection.Open();
            using var create = new NpgsqlCommand($"CREATE DATABASE {database}", connection);
            create.ExecuteNonQuery();
        }
        catch (Exception e) when (e is NpgsqlException or ArgumentException or InvalidOperationException)
        {
            var host = new NpgsqlConnectionStringBuilder(server) { Password = null }.Host;
            throw new ConfigurationException(DemoPostgresVariable, $"cannot create a database on the PostgreSQL server at '{host}': {e.Message}", e);
        }

        return new NpgsqlConnectionStringBuilder(server) { Database = database }.ConnectionString;
    }

    /// <summary>Drops a database <see cref="CreateDemoDatabase"/> made, whoever is still connected to it.</summary>
    internal static void DropDemoDatabase(string server, string database)
    {
        try
        {
            using var connection = new NpgsqlConnection(server);
            connection.Open();
            using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {database} WITH (FORCE)", connection);
            drop.ExecuteNonQuery();
        }
        catch (NpgsqlException)
        {
            // The run's result stands; a database left behind is named by its prefix for an operator to drop.
        }
    }

    private sealed record FailoverRig(string AtmId, DemoAtm Atm, CardlessWithdrawalClient Phone, string Account);

    /// <summary>What the phones were told, before and after the kill.</summary>
    private sealed class FailoverLoad
    {
        private readonly ConcurrentQueue<string> _refusals = new();
        private long _killedAt;
        private long _firstAfterKill;
        private int _approved;
        private int _approvedAfterKill;
        private long _approvedMinor;

        public int Approved => Volatile.Read(ref _approved);

        public int ApprovedAfterKill => Volatile.Read(ref _approvedAfterKill);

        public int ApprovedBeforeKill => Approved - ApprovedAfterKill;

        public long ApprovedMinor => Interlocked.Read(ref _approvedMinor);

        public string[] Refusals => [.. _refusals];

        public TimeSpan? RecoveredAfter => Interlocked.Read(ref _firstAfterKill) is var first and not 0 ? Stopwatch.GetElapsedTime(Interlocked.Read(ref _killedAt), first) : null;

        public void MarkKilled(long at) => Interlocked.Exchange(ref _killedAt, at);

        public void Approve(long minor)
        {
            Interlocked.Add(ref _approvedMinor, minor);
            Interlocked.Increment(ref _approved);
            if (Interlocked.Read(ref _killedAt) != 0)
            {
                Interlocked.CompareExchange(ref _firstAfterKill, Stopwatch.GetTimestamp(), 0);
                Interlocked.Increment(ref _approvedAfterKill);
            }
        }

        public void Refuse(string reason) => _refusals.Enqueue(reason);
    }
}

/// <summary>A <c>cardless-atm host run</c> process on the scenario's database and the network's key vault and TLS pair.</summary>
internal sealed partial class DemoHostProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output;

    private DemoHostProcess(Process process, ConcurrentQueue<string> output, int port)
    {
        _process = process;
        _output = output;
        Port = port;
    }

    public int Port { get; }

    public int ProcessId => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>The process's CPU time so far (user + system), for the bench's per-role figures.</summary>
    public TimeSpan CpuTime
    {
        get
        {
            _process.Refresh();
            return _process.HasExited ? TimeSpan.Zero : _process.TotalProcessorTime;
        }
    }

    public static async Task<DemoHostProcess> StartAsync(string name, DemoNetwork network, string connectionString, TlsListenerOptions tls, CancellationToken cancellationToken)
    {
        var directory = System.IO.Directory.CreateDirectory(Path.Combine(network.Directory.FullName, "host-" + name)).FullName;
        var self = Environment.ProcessPath ?? "dotnet";
        var start = new ProcessStartInfo(self) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = directory };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            start.ArgumentList.Add(typeof(DemoHostProcess).Assembly.Location);
        }

        foreach (var argument in new[]
        {
            "host", "run", "--port", "0",
            "--set", "Host:Store:Kind=Postgres",
            "--set", "Host:Store:ConnectionString=" + connectionString,
            "--set", "Host:Keys:KekPath=" + network.CopyKekFor("host-" + name),
            "--set", "Host:Profile=" + network.Profile.Kind,
            "--set", "Host:Tls:CertificatePath=" + tls.CertificatePath,
            "--set", "Host:Tls:PrivateKeyPath=" + tls.PrivateKeyPath,
        })
        {
            start.ArgumentList.Add(argument);
        }

        var output = new ConcurrentQueue<string>();
        var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start host process {name}.");
        process.OutputDataReceived += (_, e) => Enqueue(output, e.Data);
        process.ErrorDataReceived += (_, e) => Enqueue(output, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var started = Stopwatch.GetTimestamp();
        while (Stopwatch.GetElapsedTime(started) < TimeSpan.FromSeconds(60) && !process.HasExited)
        {
            foreach (var line in output)
            {
                if (ListeningLine().Match(line) is { Success: true } match)
                {
                    return new DemoHostProcess(process, output, int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture));
                }
            }

            await Task.Delay(50, cancellationToken);
        }

        var said = string.Join('\n', output.TakeLast(20));
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
        }

        process.Dispose();
        throw new InvalidOperationException($"host process {name} did not start listening:\n{said}");
    }

    /// <summary>SIGKILL: the process ends at once, its connections drop.</summary>
    public void Kill()
    {
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    private static void Enqueue(ConcurrentQueue<string> output, string? line)
    {
        if (line is not null)
        {
            output.Enqueue(line);
            while (output.Count > 200)
            {
                output.TryDequeue(out _);
            }
        }
    }

    [GeneratedRegex(@"^host: listening on 127\.0\.0\.1:(\d+) ")]
    private static partial Regex ListeningLine();
}
