using System.Globalization;
using System.Net;
using System.Text.Json;
using CardlessAtm.Cli.Demo;
using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Host.Seeding;
using CardlessAtm.Host.Server;
using CardlessAtm.Phone.Enrolment;
using CardlessAtm.Phone.Scanning;
using CardlessAtm.Phone.Withdrawal;
using CardlessAtm.Proxy;
using CardlessAtm.Security;

namespace CardlessAtm.EndToEnd.Tests;

/// <summary>
/// A host on a real SQLite file and a proxy, in this process; the terminal as a separate
/// <c>cardless-atm terminal</c> process; the phone as the phone library a real app would use. Every link runs
/// TLS 1.3 as shipped: the host and both proxy ports with lab certificates, the terminal pinning the host and
/// the proxy and presenting its ATM certificate from the lab ATM CA, the phone pinning the phone port.
/// </summary>
internal sealed class Network : IAsyncDisposable
{
    private readonly List<TerminalProcess> _terminals = [];
    private readonly Dictionary<int, PhoneEnrolment> _enrolments = [];

    private Network(DirectoryInfo directory, DemoAtmPki pki, HostServer host, DemoSeedResult seed, ProxyServer proxy)
    {
        Directory = directory;
        Pki = pki;
        Host = host;
        Seed = seed;
        Proxy = proxy;
    }

    public DirectoryInfo Directory { get; }

    /// <summary>The lab certificates of this network (host, proxy ports, ATM CA); generated per network.</summary>
    public DemoAtmPki Pki { get; }

    public HostServer Host { get; private set; }

    public DemoSeedResult Seed { get; }

    public ProxyServer Proxy { get; private set; }

    public int HostPort { get; private set; }

    public static async Task<Network> StartAsync()
    {
        var directory = System.IO.Directory.CreateTempSubdirectory("cardless-atm-e2e-");
        var pki = DemoAtmPki.Create(directory);
        var host = await HostServer.StartAsync(HostOptions(directory, pki, 0));
        var seed = await DemoSeed.SeedAsync(host);
        var proxy = await ProxyServer.StartAsync(ProxyOptions(pki, 0, 0));
        return new Network(directory, pki, host, seed, proxy) { HostPort = host.LocalEndPoint.Port };
    }

    /// <summary>
    /// As <see cref="StartAsync()"/>, but the ledger (and key vault) is the PostgreSQL database <paramref name="connectionString"/>,
    /// opened here for administration only (no listener): the ATM's hosts are <c>host run</c> processes the test starts
    /// on it (<see cref="HostTls"/>, each with its own copy of <paramref name="kek"/>) and names with <see cref="UseHostPort"/>.
    /// </summary>
    public static async Task<Network> StartOnPostgresAsync(string connectionString, SecretKey kek)
    {
        var directory = System.IO.Directory.CreateTempSubdirectory("cardless-atm-e2e-pg-");
        var pki = DemoAtmPki.Create(directory);
        var kekStore = new FileKeyStore(Path.Combine(directory.FullName, "admin-kek"));
        kekStore.SaveKey("kek", kek);
        var options = HostOptions(directory, pki, 0);
        options.Store = new global::CardlessAtm.Host.Storage.HostStoreOptions { Kind = global::CardlessAtm.Host.Storage.HostStoreKind.Postgres, ConnectionString = connectionString };
        options.Keys = new HostKeyOptions { KekPath = kekStore.PathOf("kek") };
        var host = await HostServer.OpenAsync(options);
        var seed = await DemoSeed.SeedAsync(host);
        var proxy = await ProxyServer.StartAsync(ProxyOptions(pki, 0, 0));
        return new Network(directory, pki, host, seed, proxy);
    }

    /// <summary>The lab TLS certificate and key a host process listens with (the terminal pins it).</summary>
    public (string CertificatePath, string PrivateKeyPath) HostTls()
    {
        var tls = new CardlessAtm.Network.TlsListenerOptions();
        Pki.ConfigureHost(tls);
        return (tls.CertificatePath!, tls.PrivateKeyPath!);
    }

    /// <summary>The host port the next terminal dials first (a host process's).</summary>
    public void UseHostPort(int port) => HostPort = port;

    /// <summary>Starts the seeded ATM's terminal process and waits until the proxy sees it signed on.</summary>
    public async Task<TerminalProcess> StartTerminalAsync(TimeSpan? noteDelay = null, TimeSpan? hostTimeout = null, int? jamAfterNotes = null, string? killAfter = null, bool verbose = false, string? qrImagePath = null, TimeSpan? stopTimeout = null, bool notesNotTaken = false, IReadOnlyList<int>? hostFailoverPorts = null)
    {
        var keys = new FileKeyStore(Path.Combine(Directory.FullName, "terminal-keys"));
        if (!keys.Contains("tmk"))
        {
            keys.SaveKey("tmk", Seed.Atm.MasterKey);
        }

        var links = new TerminalLinks(
            Pki.TerminalHostTls(), Pki.IssueTerminalTls(DemoSeed.AtmId, Path.Combine(Directory.FullName, "terminal-tls")));
        var terminal = TerminalProcess.Start(
            Path.Combine(Directory.FullName, "terminal"), DemoSeed.AtmId, HostPort, Proxy.AtmEndPoint.Port, keys.Directory,
            noteDelay ?? TimeSpan.Zero, hostTimeout ?? TimeSpan.FromSeconds(30), jamAfterNotes, killAfter, verbose, links, qrImagePath, stopTimeout, notesNotTaken, hostFailoverPorts);
        _terminals.Add(terminal);
        await WaitUntilAtmOnlineAsync();
        return terminal;
    }

    /// <summary>
    /// Waits until the proxy sees the ATM online; fails at once with the terminal's output if its process ended
    /// instead (a configuration it refused, a crash at start-up), rather than after the whole timeout.
    /// </summary>
    public async Task WaitUntilAtmOnlineAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var online = Proxy.WaitForAtmStateAsync(DemoSeed.AtmId, AtmLinkState.Online, timeout.Token);
        while (!online.IsCompleted)
        {
            if (_terminals.Count > 0 && _terminals[^1].HasExited)
            {
                Assert.Fail("The terminal process ended before its ATM came online. Output:\n" + string.Join('\n', _terminals[^1].Output));
            }

            await Task.WhenAny(online, Task.Delay(50, CancellationToken.None));
        }

        await online;
    }

    /// <summary>The customer types the amount on the terminal's keypad; returns the QR payload the ATM shows.</summary>
    /// <remarks>
    /// Keys pressed on any screen but the one that asks for them are discarded by the ATM. If the ATM leaves the idle
    /// screen on its own between the look and the keys (a link that drops and comes back under load takes it out of
    /// service for a moment), the customer starts again from the idle screen, as a real one would.
    /// </remarks>
    public static async Task<string> ShowQrAsync(TerminalProcess terminal, int amountMajor)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        while (true)
        {
            while (!IsIdle(terminal))
            {
                if (timeout.IsCancellationRequested)
                {
                    Assert.Fail("The ATM never showed its idle screen. Output:\n" + string.Join('\n', terminal.Output));
                }

                await Task.Delay(50, CancellationToken.None);
            }

            var before = terminal.Output.Count();
            await terminal.TypeAsync("\n");
            if (!await AppearsAsync(terminal, before, "  Amount (", timeout.Token))
            {
                continue; // the idle screen was gone before the key arrived
            }

            before = terminal.Output.Count();
            await terminal.TypeAsync(amountMajor.ToString(CultureInfo.InvariantCulture) + "\n");
            if (await AppearsAsync(terminal, before, "QR:", timeout.Token))
            {
                var line = terminal.Output.Skip(before).First(l => l.TrimStart().StartsWith("QR:", StringComparison.Ordinal)).Trim();
                return line["QR:".Length..].Trim();
            }

            if (timeout.IsCancellationRequested)
            {
                Assert.Fail("The ATM never showed a QR code. Output:\n" + string.Join('\n', terminal.Output));
            }
        }
    }

    /// <summary>
    /// Waits until a line starting with <paramref name="prefix"/> is printed after line <paramref name="after"/>; false
    /// when the ATM shows another screen first (idle or out of service) or the time runs out.
    /// </summary>
    private static async Task<bool> AppearsAsync(TerminalProcess terminal, int after, string prefix, CancellationToken timeout)
    {
        string[] interruptions = ["  Press ENTER", "  Temporarily out of service"];
        while (!timeout.IsCancellationRequested)
        {
            var lines = terminal.Output.Skip(after).ToList();
            if (lines.Any(l => l.TrimStart().StartsWith(prefix.TrimStart(), StringComparison.Ordinal)))
            {
                return true;
            }

            if (lines.Any(l => interruptions.Any(i => l.StartsWith(i, StringComparison.Ordinal))))
            {
                return false;
            }

            await Task.Delay(50, CancellationToken.None);
        }

        return false;
    }

    /// <summary>Whether the ATM's console shows the idle screen as its latest screen.</summary>
    private static bool IsIdle(TerminalProcess terminal)
    {
        string[] otherScreens = ["  Amount (", "  Scan with", "  Authorising", "  Dispensing", "  Transaction terminated", "  Please take", "  Only ", "  Temporarily out of service"];
        var lines = terminal.Output.ToList();
        var welcome = lines.FindLastIndex(l => l.StartsWith("  Press ENTER", StringComparison.Ordinal));
        var other = lines.FindLastIndex(l => otherScreens.Any(p => l.StartsWith(p, StringComparison.Ordinal)));
        return welcome > other;
    }

    /// <summary>The phone of demo customer <paramref name="customer"/> (enrolled once; its DUKPT state in a 0600 file).</summary>
    public CardlessWithdrawalClient Phone(int customer = 0)
    {
        lock (_enrolments)
        {
            if (!_enrolments.TryGetValue(customer, out var enrolment))
            {
                var provisioning = Seed.Phones[customer];
                var path = Path.Combine(Directory.FullName, "phones", $"phone-{customer}.key");
                enrolment = PhoneEnrolment.Create(path, Host.Profile, provisioning.InitialKey, provisioning.InitialKsn);
                _enrolments[customer] = enrolment;
            }

            var options = PhoneClientOptions.Pinned(new ProxyEndpoint("127.0.0.1", Proxy.PhoneEndPoint.Port), Pki.PhonePortPin, DemoAtmPki.PhonePortName);
            return new CardlessWithdrawalClient(options, enrolment, Host.Profile);
        }
    }

    public Task<WithdrawalOutcome> WithdrawAsync(CardlessWithdrawalClient phone, string qrText, int customer = 0, string? pin = null) =>
        phone.WithdrawAsync(ScannedSession.FromText(qrText), Seed.Customers[customer].AccountId, WithdrawalInteraction.Automatic(pin ?? Seed.Customers[customer].Pin));

    public async Task<long> BalanceAsync(int customer = 0) =>
        (await Host.Administration.GetAccountAsync(Seed.Customers[customer].AccountId))!.BalanceMinor;

    /// <summary>
    /// The reconciliation check: the value of the notes the ATM presented (its own persisted counters) equals the
    /// host's approved debits minus reversals, and the ledger's entries match its balances.
    /// </summary>
    public async Task AssertReconciledAsync(TerminalProcess terminal)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (true)
        {
            var totals = await Host.Administration.GetLedgerTotalsAsync();
            var presented = await PresentedValueAsync(terminal);
            var saf = System.IO.Directory.Exists(Path.Combine(terminal.DataDirectory, "data", "saf"))
                ? System.IO.Directory.GetFiles(Path.Combine(terminal.DataDirectory, "data", "saf"), "*.json").Length
                : 0;
            if (totals.Balances && saf == 0 && presented == totals.ApprovedWithdrawalsMinor - totals.ReversalsMinor)
            {
                return;
            }

            if (timeout.IsCancellationRequested)
            {
                Assert.Fail($"Not reconciled: presented {presented}, approved {totals.ApprovedWithdrawalsMinor}, reversed {totals.ReversalsMinor}, ledger consistent {totals.Balances}, reversals waiting {saf}.");
            }

            await Task.Delay(100, CancellationToken.None);
        }
    }

    /// <summary>Value of the notes presented, from the terminal's persisted cash-unit counters (read as the terminal reads them).</summary>
    public static async Task<long> PresentedValueAsync(TerminalProcess terminal)
    {
        var units = await new JsonFileCashUnitStore(terminal.CashUnitsPath).LoadAsync(CancellationToken.None);
        return units?.Sum(u => u.PresentedValue.MinorUnits) ?? 0;
    }

    /// <summary>Notes the simulated dispenser's own memory says it presented (survives a crash of the terminal).</summary>
    public static int DevicePresentedNotes(TerminalProcess terminal)
    {
        if (!File.Exists(terminal.DeviceMemoryPath))
        {
            return 0;
        }

        try
        {
            using var json = JsonDocument.Parse(File.ReadAllText(terminal.DeviceMemoryPath));
            return json.RootElement.GetProperty("Presented").EnumerateObject().Sum(p => p.Value.GetInt32());
        }
        catch (Exception e) when (e is JsonException or IOException)
        {
            return 0;
        }
    }

    /// <summary>Stops the proxy and starts a new one on the same ports.</summary>
    public async Task RestartProxyAsync()
    {
        var atmPort = Proxy.AtmEndPoint.Port;
        var phonePort = Proxy.PhoneEndPoint.Port;
        await Proxy.DisposeAsync();
        Proxy = await ProxyServer.StartAsync(ProxyOptions(Pki, atmPort, phonePort));
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var terminal in _terminals)
        {
            await terminal.DisposeAsync();
        }

        await Proxy.DisposeAsync();
        await Host.DisposeAsync();
        Seed.Dispose();
        Pki.Dispose();
        try
        {
            Directory.Delete(recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static HostServerOptions HostOptions(DirectoryInfo directory, DemoAtmPki pki, int port)
    {
        var options = new HostServerOptions
        {
            DatabasePath = Path.Combine(directory.FullName, "host.db"),
            KeyVaultPath = Path.Combine(directory.FullName, "host-keys"),
            Address = IPAddress.Loopback,
            Port = port,
        };
        pki.ConfigureHost(options.Tls);
        return options;
    }

    private static ProxyOptions ProxyOptions(DemoAtmPki pki, int atmPort, int phonePort)
    {
        var options = new ProxyOptions
        {
            Atm = new ProxyListenerOptions { Port = atmPort },
            Phone = new ProxyListenerOptions { Port = phonePort },
            MaxRequestsPerPhoneConnection = 100,
        };
        pki.ConfigureProxy(options.Atm);
        pki.ConfigureProxyPhones(options.Phone);
        return options;
    }
}
