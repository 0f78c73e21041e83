using System.Net;
using CardlessAtm.Cli.Rigs;
using CardlessAtm.Devices.Configuration;
using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Devices.Simulated;
using CardlessAtm.Host.Seeding;
using CardlessAtm.Host.Server;
using CardlessAtm.Phone.Enrolment;
using CardlessAtm.Phone.Withdrawal;
using CardlessAtm.Proxy;
using CardlessAtm.Qr.Sessions;
using CardlessAtm.Security;
using CardlessAtm.Terminal;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CardlessAtm.Cli.Demo;

/// <summary>
/// The whole network in one process on loopback, each part on its own free port: a host on a temporary
/// SQLite file with the demo seed, a proxy, a terminal on simulated devices and one enrolled phone per
/// demo customer. Used by <c>cardless-atm demo</c> and <c>cardless-atm bench</c>.
/// </summary>
internal sealed class DemoNetwork : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly List<ServiceProvider> _deviceProviders = [];
    private readonly List<(AtmTerminal Terminal, Task Running)> _terminals = [];
    private readonly Lock _fleetKeyLock = new();
    private SecretKey? _fleetKey;
    private HostServer _host;

    private DemoNetwork(DirectoryInfo directory, HostServer host, DemoSeedResult seed, ProxyServer proxy, DemoAtmPki pki, ISecurityProfile profile, ILoggerFactory loggers)
    {
        Directory = directory;
        Pki = pki;
        _host = host;
        Seed = seed;
        Proxy = proxy;
        Profile = profile;
        Loggers = loggers;
    }

    public DirectoryInfo Directory { get; }

    public HostServer Host => _host;

    public DemoSeedResult Seed { get; }

    public ProxyServer Proxy { get; }

    /// <summary>The ATM CA and certificates of this run: the terminal↔proxy link runs mutual TLS 1.3.</summary>
    public DemoAtmPki Pki { get; }

    public ISecurityProfile Profile { get; }

    public ILoggerFactory Loggers { get; }

    public int HostPort { get; private set; }

    /// <summary>The devices the terminals run on.</summary>
    public DemoRigKind Rig { get; private init; }

    /// <summary>On <see cref="DemoRigKind.FirmwareSim"/>: the dispenser model the rig emulates (<c>demo --dispenser</c>).</summary>
    public RigDispenserModel RigDispenser { get; private init; }

    /// <summary>True when the terminal–host link runs plain TCP (<c>Host:Insecure</c>, <c>Terminal:Host:Insecure</c>): only the replayed-approval scenario, whose attacker must read the wire.</summary>
    public bool PlainHostLink { get; private init; }

    /// <summary>Starts host and proxy (not yet a terminal), every listener on TLS 1.3 with a lab pair made now.</summary>
    /// <param name="profileKind">The security profile.</param>
    /// <param name="loggers">Where logs go.</param>
    /// <param name="cancellationToken">Cancels start-up.</param>
    /// <param name="plainHostLink">Run the host listener on plain TCP, explicitly insecure (see <see cref="PlainHostLink"/>).</param>
    /// <param name="rig">The devices the demo's terminals run on.</param>
    /// <param name="rigDispenser">On the firmware-sim rig: the dispenser it emulates.</param>
    /// <param name="store">The host's ledger store when not the temporary SQLite file (the host-failover scenario's PostgreSQL database).</param>
    public static async Task<DemoNetwork> StartAsync(SecurityProfileKind profileKind, ILoggerFactory loggers, CancellationToken cancellationToken, bool plainHostLink = false, DemoRigKind rig = DemoRigKind.Simulated, RigDispenserModel rigDispenser = RigDispenserModel.Lcdm2000, Host.Storage.HostStoreOptions? store = null)
    {
        loggers = new TeardownQuietLoggerFactory(loggers);
        var directory = System.IO.Directory.CreateTempSubdirectory("cardless-atm-demo-");
        var pki = DemoAtmPki.Create(directory);
        var hostOptions = HostOptions(directory, profileKind, port: 0, pki, plainHostLink);
        if (store is not null)
        {
            hostOptions.Store = store;
            if (store.Kind == CardlessAtm.Host.Storage.HostStoreKind.Postgres)
            {
                // The database vault: keys wrapped under a KEK that lives in a 0600 file per host (the operator's copy here).
                using var kek = SecretKey.Generate(KeyAlgorithm.Aes256);
                hostOptions.Keys = new HostKeyOptions { KekPath = WriteKekFile(directory, "operator", kek) };
            }
        }

        var host = await HostServer.StartAsync(hostOptions, loggers, cancellationToken: cancellationToken);
        var seed = await DemoSeed.SeedAsync(host, cancellationToken);
        var proxyOptions = new ProxyOptions { Atm = new ProxyListenerOptions { Port = 0 }, Phone = new ProxyListenerOptions { Port = 0 }, MaxRequestsPerPhoneConnection = 1_000_000 };
        pki.ConfigureProxy(proxyOptions.Atm);
        pki.ConfigureProxyPhones(proxyOptions.Phone);
        var proxy = await ProxyServer.StartAsync(proxyOptions, loggers, cancellationToken: cancellationToken);
        return new DemoNetwork(directory, host, seed, proxy, pki, host.Profile, loggers) { HostPort = host.LocalEndPoint.Port, PlainHostLink = plainHostLink, Rig = rig, RigDispenser = rigDispenser, OperatorKekPath = hostOptions.Keys.KekPath };
    }

    private static string WriteKekFile(DirectoryInfo directory, string owner, SecretKey kek) => WriteKeyFile(directory, "kek", owner, kek);

    /// <summary>Writes <paramref name="key"/> as the 0600 file <c>{role}-{owner}/{role}.key</c> (a 0700 directory of its own).</summary>
    private static string WriteKeyFile(DirectoryInfo directory, string role, string owner, SecretKey key)
    {
        var store = new FileKeyStore(Path.Combine(directory.FullName, role + "-" + owner));
        store.SaveKey(role, key, overwrite: true);
        return store.PathOf(role);
    }

    /// <summary>Adds an ATM to the host (the first one is the seeded <c>ATM00001</c>) and starts its terminal on simulated devices.</summary>
    /// <param name="atmId">The ATM's id.</param>
    /// <param name="qrOptions">QR session lifetimes.</param>
    /// <param name="cancellationToken">Cancels start-up.</param>
    /// <param name="deviceMemory">Whether the simulated dispenser keeps its memory in a file after every note (as a real one does);
    /// off for the load benchmark, whose mechanical parts are meant to cost nothing.</param>
    /// <param name="hostPort">The loopback port the terminal dials for its host, when not the host's own (a relay in between).</param>
    /// <param name="proxyPort">The loopback port the terminal dials for the proxy, when not the proxy's own (the panel's link relay).</param>
    /// <param name="hostFailoverPorts">Further host ports on loopback (<c>Terminal:Host:Failover</c>), tried in order when the host link fails.</param>
    /// <param name="proxyFailoverPorts">Further loopback proxy ports (<c>Terminal:Proxy:Failover</c>), for a fleet of proxy processes;
    /// the terminal is then awaited online at whichever it reached, not at this network's in-process proxy.</param>
    public async Task<DemoAtm> StartTerminalAsync(string atmId, QrSessionOptions qrOptions, CancellationToken cancellationToken, bool deviceMemory = true, int? hostPort = null, int? proxyPort = null, IReadOnlyList<int>? hostFailoverPorts = null, IReadOnlyList<int>? proxyFailoverPorts = null)
    {
        var masterKey = atmId == DemoSeed.AtmId
            ? Seed.Atm.MasterKey
            : (await _host.Administration.AddAtmAsync(atmId, "Demo load rig", DemoSeed.Currency, cancellationToken)).MasterKey;
        var atmDirectory = Path.Combine(Directory.FullName, atmId);
        var keys = new FileKeyStore(Path.Combine(atmDirectory, "keys"));
        keys.SaveKey("tmk", masterKey, overwrite: true);

        System.IO.Directory.CreateDirectory(atmDirectory);
        var rig = Rig == DemoRigKind.FirmwareSim ? FirmwareSimRig.Start(Loggers, RigDispenserOptions.Default(RigDispenser)) : null;
        var settings = rig?.Settings(atmDirectory) ?? DeviceSettings(atmDirectory);
        if (!deviceMemory)
        {
            settings.Remove("Devices:Dispenser:Simulated:StateFile");
        }

        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var collection = new ServiceCollection()
            .AddSingleton(TimeProvider.System)
            .AddSingleton(Loggers);
        if (rig is not null)
        {
            collection.AddSingleton(_ => rig); // disposed with the provider: the emulators stop with the terminal's devices
            rig.AddServices(collection);
        }

        var services = collection
            .AddAtmDevices(configuration, Commands.DevicesCommand.AddDeviceKinds)
            .BuildServiceProvider();
        _deviceProviders.Add(services);
        if (rig is not null)
        {
            services.GetRequiredService<FirmwareSimRig>();
        }

        var devices = await services.OpenAtmDevicesAsync(cancellationToken);
        var options = new TerminalOptions
        {
            AtmId = atmId,
            Currency = "EUR",
            Host = PlainHostLink
                ? new EndpointOptions { Address = "127.0.0.1", Port = hostPort ?? HostPort, Insecure = true }
                : new EndpointOptions { Address = "127.0.0.1", Port = hostPort ?? HostPort, Tls = Pki.TerminalHostTls() },
            Proxy = new EndpointOptions
            {
                Address = "127.0.0.1",
                Port = proxyPort ?? Proxy.AtmEndPoint.Port,
                Tls = Pki.IssueTerminalTls(atmId, Path.Combine(atmDirectory, "tls")),
                Failover = [.. (proxyFailoverPorts ?? []).Select(port => new FailoverEndpointOptions { Address = "127.0.0.1", Port = port })],
            },
            KeyStore = keys.Directory,
            DataDirectory = Path.Combine(atmDirectory, "data"),
            HostTimeout = hostFailoverPorts is null ? new TerminalOptions().HostTimeout : TimeSpan.FromSeconds(10),
            ResultScreenTime = TimeSpan.Zero,
            ReversalRetryInitial = TimeSpan.FromMilliseconds(200),
            ReversalRetryMax = TimeSpan.FromSeconds(2),
            PresentTimeout = DemoPresentTimeout,
        };
        options.Host.Failover = [.. (hostFailoverPorts ?? []).Select(port => new FailoverEndpointOptions { Address = "127.0.0.1", Port = port })];
        var terminal = AtmTerminal.Create(options, devices, Profile, qrOptions, TimeProvider.System, Loggers);
        var running = terminal.RunAsync(_stop.Token);
        _terminals.Add((terminal, running));
        using var online = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        online.CancelAfter(TimeSpan.FromSeconds(30));
        await terminal.WaitUntilOnlineAsync(online.Token);
        if (proxyFailoverPorts is null)
        {
            await Proxy.WaitForAtmStateAsync(atmId, AtmLinkState.Online, online.Token);
        }

        IDemoAtmHardware hardware = rig is not null
            ? new FirmwareSimDemoHardware(rig, atmDirectory)
            : new SimulatedDemoHardware(
                (SimulatedKeypad)devices.Keypad,
                (SimulatedDispenserDevice)services.GetRequiredService<IDispenserDevice>(),
                (SimulatedFaultSensors)devices.Sensors);
        return new DemoAtm(terminal, hardware);
    }

    /// <summary>How long the demo's notes wait at the exit: short, since only notes-not-taken leaves them there (its customer walks away).</summary>
    public static TimeSpan DemoPresentTimeout { get; } = TimeSpan.FromSeconds(3);

    /// <summary>The in-process host's KEK file when it runs on PostgreSQL (the database vault), else null.</summary>
    public string? OperatorKekPath { get; private init; }

    /// <summary>
    /// A host process's own copy of the database vault's KEK (a 0600 file in a 0700 directory named after it), as each
    /// host of a fleet holds one; only for a network started on PostgreSQL.
    /// </summary>
    public string CopyKekFor(string owner)
    {
        using var kek = FileKeyStore.LoadKeyFile(OperatorKekPath ?? throw new InvalidOperationException("The demo host runs without a database vault."));
        return WriteKekFile(Directory, owner, kek);
    }

    /// <summary>
    /// Writes this network's fleet key (one AES-256 key, made on first use, shared by every proxy process of its NATS
    /// fleets) into a 0600 file of <paramref name="owner"/>'s own, as an operator copies the file to each proxy, and
    /// returns its path (<c>Proxy:Routing:Nats:FleetKeyPath</c>).
    /// </summary>
    public string FleetKeyFor(string owner)
    {
        lock (_fleetKeyLock)
        {
            _fleetKey ??= SecretKey.Generate(KeyAlgorithm.Aes256);
            return WriteKeyFile(Directory, "fleet", owner, _fleetKey);
        }
    }

    /// <summary>Where the terminal with this id keeps its journal.</summary>
    public string JournalPathOf(string atmId) => Path.Combine(Directory.FullName, atmId, "data", "journal.log");

    /// <summary>An enrolled phone for demo customer <paramref name="customer"/> (its DUKPT state in a 0600 file).</summary>
    public CardlessWithdrawalClient Phone(int customer, string? name = null)
    {
        var provisioning = Seed.Phones[customer];
        var path = Path.Combine(Directory.FullName, "phones", $"{name ?? provisioning.Phone.DeviceId}.key");
        var enrolment = File.Exists(path)
            ? PhoneEnrolment.Open(path, Profile)
            : PhoneEnrolment.Create(path, Profile, provisioning.InitialKey, provisioning.InitialKsn);
        return PhoneClient(enrolment);
    }

    /// <summary>A phone client over an enrolment, talking to this network's proxy.</summary>
    public CardlessWithdrawalClient PhoneClient(PhoneEnrolment enrolment) =>
        new(PhoneClientOptions.Pinned(new ProxyEndpoint("127.0.0.1", Proxy.PhoneEndPoint.Port), Pki.PhonePortPin, DemoAtmPki.PhonePortName), enrolment, Profile, loggerFactory: Loggers);

    /// <summary>Stops the host (the terminal's link drops and it keeps redialling).</summary>
    /// <summary>From now on only errors are logged: the run is over and what the roles say while they stop is not news.</summary>
    public void QuietTeardown() => ((TeardownQuietLoggerFactory)Loggers).Quiet();

    public async Task StopHostAsync() => await _host.DisposeAsync();

    /// <summary>Starts the host again on the same database, keys and port.</summary>
    public async Task RestartHostAsync(CancellationToken cancellationToken) =>
        _host = await HostServer.StartAsync(HostOptions(Directory, Profile.Kind, HostPort, Pki, PlainHostLink), Loggers, cancellationToken: cancellationToken);

    public async ValueTask DisposeAsync()
    {
        // The run is over and its summary printed: what the roles say while they stop (the proxy's "ATM … is offline"
        // as the terminal's connection closes, the host's for the proxy's) is expected, not news. Errors still show.
        ((TeardownQuietLoggerFactory)Loggers).Quiet();
        await _stop.CancelAsync();
        foreach (var (terminal, running) in _terminals)
        {
            try
            {
                await running;
            }
            catch (OperationCanceledException)
            {
            }

            await terminal.DisposeAsync();
        }

        foreach (var provider in _deviceProviders)
        {
            await provider.DisposeAsync();
        }

        await Proxy.DisposeAsync();
        await _host.DisposeAsync();
        Seed.Dispose();
        Pki.Dispose();
        _fleetKey?.Dispose();
        _stop.Dispose();
        try
        {
            Directory.Delete(recursive: true);
        }
        catch (IOException)
        {
            // A file still held open by a background task; the temporary directory is left for the OS to clean.
        }
    }

    private static HostServerOptions HostOptions(DirectoryInfo directory, SecurityProfileKind profile, int port, DemoAtmPki pki, bool plain)
    {
        var options = new HostServerOptions
        {
            DatabasePath = Path.Combine(directory.FullName, "host.db"),
            KeyVaultPath = Path.Combine(directory.FullName, "host-keys"),
            Address = IPAddress.Loopback,
            Port = port,
            Profile = profile,
            Insecure = plain,
        };
        if (!plain)
        {
            pki.ConfigureHost(options.Tls);
        }

        return options;
    }

    private static Dictionary<string, string?> DeviceSettings(string atmDirectory)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Devices:Display:Kind"] = "Simulated",
            ["Devices:Keypad:Kind"] = "Simulated",
            ["Devices:Sensors:Kind"] = "Simulated",
            ["Devices:Dispenser:Kind"] = "Simulated",
            ["Devices:Dispenser:StateFile"] = Path.Combine(atmDirectory, "cash-units.json"),
            ["Devices:Dispenser:Simulated:StateFile"] = Path.Combine(atmDirectory, "dispenser-memory.json"),
        };
        var units = new[] { ("CASS1", 10), ("CASS2", 20), ("CASS3", 50), ("CASS4", 100) };
        for (var i = 0; i < units.Length; i++)
        {
            settings[$"Devices:Dispenser:CashUnits:{i}:Id"] = units[i].Item1;
            settings[$"Devices:Dispenser:CashUnits:{i}:Position"] = (i + 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
            settings[$"Devices:Dispenser:CashUnits:{i}:Currency"] = "EUR";
            settings[$"Devices:Dispenser:CashUnits:{i}:Denomination"] = units[i].Item2.ToString(System.Globalization.CultureInfo.InvariantCulture);
            settings[$"Devices:Dispenser:CashUnits:{i}:Count"] = "1000";
        }

        return settings;
    }
}

/// <summary>A running demo ATM and what the demo does to its hardware, on either rig.</summary>
internal sealed record DemoAtm(AtmTerminal Terminal, IDemoAtmHardware Hardware)
{
    /// <summary>The simulated dispenser; the present/retract scenario needs it (the firmware-sim rig's LCDM-2000 has no exit sensor).</summary>
    public SimulatedDispenserDevice Dispenser => (Hardware as SimulatedDemoHardware)?.Dispenser
        ?? throw new InvalidOperationException("this scenario needs the simulated dispenser's exit sensor: run it on the Simulated rig");

    /// <summary>Value of every note the ATM presented so far.</summary>
    public Money PresentedValue => Terminal.Devices.Dispenser.CashUnits.Aggregate(Money.Of(0, "EUR"), (sum, u) => sum + u.PresentedValue);
}

/// <summary>Passes every log entry on until <see cref="Quiet"/>; after it only errors, so a demo's teardown adds no noise under its summary.</summary>
internal sealed class TeardownQuietLoggerFactory(ILoggerFactory inner) : ILoggerFactory
{
    private volatile bool _quiet;

    /// <summary>From now on, entries below <see cref="LogLevel.Error"/> are dropped.</summary>
    public void Quiet() => _quiet = true;

    public ILogger CreateLogger(string categoryName) => new Logger(inner.CreateLogger(categoryName), this);

    public void AddProvider(ILoggerProvider provider) => inner.AddProvider(provider);

    public void Dispose()
    {
        // The inner factory belongs to the caller.
    }

    private sealed class Logger(ILogger inner, TeardownQuietLoggerFactory factory) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => inner.BeginScope(state);

        public bool IsEnabled(LogLevel logLevel) => (!factory._quiet || logLevel >= LogLevel.Error) && inner.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                inner.Log(logLevel, eventId, state, exception, formatter);
            }
        }
    }
}
