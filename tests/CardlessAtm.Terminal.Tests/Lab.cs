using System.Globalization;
using CardlessAtm.Devices.Configuration;
using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Devices.FaultCheck;
using CardlessAtm.Devices.Keypad;
using CardlessAtm.Devices.Simulated;
using CardlessAtm.Host.Seeding;
using CardlessAtm.Host.Server;
using CardlessAtm.Iso8583;
using CardlessAtm.Network;
using CardlessAtm.Qr.Sessions;
using CardlessAtm.Security;
using CardlessAtm.Terminal.Flow;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace CardlessAtm.Terminal.Tests;

/// <summary>
/// A real host on a SQLite file and a real terminal on simulated devices, on loopback. Phone requests are
/// built with the security module's phone protector and handed to the terminal as the proxy would.
/// </summary>
internal sealed class Lab : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly DirectoryInfo _directory;
    private readonly DemoSeedResult _seed;
    private readonly Task _running;
    private readonly Dictionary<int, DukptDevice> _phones = [];
    private int _phoneStan;

    private Lab(DirectoryInfo directory, HostServer host, DemoSeedResult seed, AtmTerminal terminal, SimulatedDisplay display, SimulatedKeypad keypad, SimulatedDispenserDevice dispenser, SimulatedFaultSensors sensors, FakeTimeProvider time)
    {
        _directory = directory;
        Host = host;
        _seed = seed;
        Terminal = terminal;
        Display = display;
        Keypad = keypad;
        Dispenser = dispenser;
        Sensors = sensors;
        Time = time;
        _running = terminal.RunAsync(_stop.Token);
    }

    public HostServer Host { get; }

    public AtmTerminal Terminal { get; }

    public SimulatedDisplay Display { get; }

    public SimulatedKeypad Keypad { get; }

    public SimulatedDispenserDevice Dispenser { get; }

    public SimulatedFaultSensors Sensors { get; }

    public FakeTimeProvider Time { get; }

    public WithdrawalFlow Flow => Terminal.Flow;

    /// <param name="profile">The security profile of host and terminal.</param>
    /// <param name="tls">Whether the host link runs over TLS.</param>
    /// <param name="prepareDataDirectory">Called with the terminal's data directory before the terminal opens it (e.g. to leave a journal behind).</param>
    /// <param name="meters">The terminal's meter factory (to observe its metrics in isolation).</param>
    /// <param name="configure">Changes the terminal's settings before it is created.</param>
    /// <param name="presenting">What the simulated dispenser can do at its exit (default: detects taken, retracts, counts).</param>
    /// <param name="beforeRun">Called with the terminal after it is built and before it runs.</param>
    public static async Task<Lab> StartAsync(
        SecurityProfileKind profile = SecurityProfileKind.Aes,
        bool tls = false,
        Action<string>? prepareDataDirectory = null,
        System.Diagnostics.Metrics.IMeterFactory? meters = null,
        Action<TerminalOptions>? configure = null,
        PresentCapability? presenting = null,
        Action<AtmTerminal>? beforeRun = null)
    {
        var directory = Directory.CreateTempSubdirectory("cardless-atm-lab-");
        var hostTls = new Network.TlsListenerOptions();
        var terminalTls = new Network.TlsClientOptions();
        if (tls)
        {
            using var certificate = LabCertificates.CreateSelfSigned("cardless-host", TimeProvider.System, TimeSpan.FromDays(1));
            hostTls.CertificatePath = Path.Combine(directory.FullName, "host.crt");
            hostTls.PrivateKeyPath = Path.Combine(directory.FullName, "host.key");
            terminalTls.ServerPin = LabCertificates.WritePem(certificate, hostTls.CertificatePath, hostTls.PrivateKeyPath).ToString();
            terminalTls.TargetHost = "cardless-host";
        }

        var host = await HostServer.StartAsync(new HostServerOptions
        {
            DatabasePath = Path.Combine(directory.FullName, "host.db"),
            KeyVaultPath = Path.Combine(directory.FullName, "host-keys"),
            Port = 0,
            Profile = profile,
            Tls = hostTls,
            Insecure = !tls,
        });
        var seed = await DemoSeed.SeedAsync(host);
        var keys = new FileKeyStore(Path.Combine(directory.FullName, "terminal-keys"));
        keys.SaveKey("tmk", seed.Atm.MasterKey);

        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var units = new List<CashUnit>
        {
            Unit("CASS1", 1, 10, 200),
            Unit("CASS2", 2, 20, 200),
            Unit("CASS3", 3, 50, 100),
        };
        var dispenser = new SimulatedDispenserDevice(units.ToDictionary(u => u.Position, u => u.Count), 40, time, presenting: presenting);
        var sensors = SimulatedFaultSensors.Standard(3);
        var display = new SimulatedDisplay();
        var keypad = new SimulatedKeypad(time);
        var cash = await CashDispenser.OpenAsync(dispenser, CashUnitLayout.Create(units), new InMemoryCashUnitStore(), MixAlgorithm.MinimumNotes, sensors, NullLogger.Instance, CancellationToken.None);
        var devices = new AtmDevices(display, keypad, cash, sensors, new AtmFaultCheck(cash, sensors, display, new FaultCheckOptions()));
        var options = new TerminalOptions
        {
            AtmId = DemoSeed.AtmId,
            Currency = "EUR",
            Host = new EndpointOptions { Address = "127.0.0.1", Port = host.LocalEndPoint.Port, Tls = terminalTls, Insecure = !tls },
            Proxy = new EndpointOptions { Address = "127.0.0.1", Port = 9, Insecure = true }, // no proxy in the lab
            KeyStore = keys.Directory,
            DataDirectory = Path.Combine(directory.FullName, "terminal-data"),
            ResultScreenTime = TimeSpan.Zero,
        };
        configure?.Invoke(options);
        Directory.CreateDirectory(options.DataDirectory);
        prepareDataDirectory?.Invoke(options.DataDirectory);
        var terminal = AtmTerminal.Create(options, devices, SecurityProfiles.Create(profile), new QrSessionOptions { Lifetime = TimeSpan.FromSeconds(60), ClockSkew = TimeSpan.Zero }, time, NullLoggerFactory.Instance, meters);
        beforeRun?.Invoke(terminal);
        var lab = new Lab(directory, host, seed, terminal, display, keypad, dispenser, sensors, time);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await terminal.WaitUntilHostReadyAsync(timeout.Token);
        return lab;
    }

    public DemoCustomer Customer(int index = 0) => _seed.Customers[index];

    /// <summary>A copy of the ATM's terminal master key (for a second party that re-keys the ATM at the host).</summary>
    public SecretKey AtmMasterKey() => SecretKey.Create(_seed.Atm.MasterKey.Algorithm, _seed.Atm.MasterKey.ExportBytes());

    /// <summary>A customer types the amount at the ATM; returns the QR text once it is on screen.</summary>
    public async Task<string> ShowQrAsync(int amountMajor)
    {
        await WaitForStateAsync(TerminalState.Idle);
        var shown = WaitForStateAsync(TerminalState.QrShown);
        Keypad.Press(AtmKey.Enter);
        Keypad.Type(amountMajor.ToString(CultureInfo.InvariantCulture));
        Keypad.Press(AtmKey.Enter);
        await shown;
        return Flow.CurrentQrText!;
    }

    /// <summary>The phone of customer <paramref name="customer"/> builds its 0200 for a scanned QR.</summary>
    public IsoMessage PhoneRequest(string qrText, int customer = 0, string? pin = null, long? amountOverride = null)
    {
        var payload = Qr.Payload.QrPayloadFormat.Parse(qrText).Payload!;
        var request = new IsoMessage(NetworkSpec.Messages, Mti.FinancialRequest)
        {
            ProcessingCode = "010000",
            AmountMinor = amountOverride ?? payload.Amount.MinorUnits,
            Stan = Interlocked.Increment(ref _phoneStan),
            TerminalId = payload.AtmId.Value,
            SessionPayload = qrText,
            CurrencyCode = payload.Amount.Currency.NumericCode,
        };
        request.SetTransmissionDateTime(DateTimeOffset.UtcNow);
        var profile = Host.Profile;
        if (!_phones.TryGetValue(customer, out var device))
        {
            device = profile.LoadPhoneDevice(_seed.Phones[customer].InitialKey, _seed.Phones[customer].InitialKsn);
            _phones[customer] = device;
        }

        var binding = PhoneWithdrawalRequest.FromIso(request).Binding;
        request.ProtectedData = profile.CreatePhoneProtector(device).Protect(Customer(customer).AccountId, pin ?? Customer(customer).Pin, binding);
        return request;
    }

    public async Task<IsoMessage> SendAsync(IsoMessage phoneRequest)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        return await Flow.HandleForwardedRequestAsync(phoneRequest, timeout.Token);
    }

    public async Task<long> BalanceAsync(int customer = 0)
    {
        var account = await Host.Administration.GetAccountAsync(Customer(customer).AccountId);
        return account!.BalanceMinor;
    }

    public async Task WaitForStateAsync(TerminalState state)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await Flow.WaitForStateAsync(s => s == state, timeout.Token);
    }

    /// <summary>Waits until the store-and-forward queue is empty (every reversal acknowledged).</summary>
    public async Task WaitForReversalsDeliveredAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (Terminal.Reversals.Store.Depth > 0)
        {
            await Task.Delay(20, timeout.Token);
            Time.Advance(TimeSpan.FromSeconds(1));
        }
    }

    /// <summary>Waits (advancing the fake clock a second at a time) until <paramref name="condition"/> holds.</summary>
    public async Task WaitUntilAsync(Func<bool> condition)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (!condition())
        {
            await Task.Delay(20, timeout.Token);
            Time.Advance(TimeSpan.FromSeconds(1));
        }
    }

    public Journal.JournalReadResult Journal() => Terminal.Journal.ReadAllEntries();

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _running;
        }
        catch (OperationCanceledException)
        {
        }

        await Terminal.DisposeAsync();
        await Host.DisposeAsync();
        foreach (var phone in _phones.Values)
        {
            phone.Dispose();
        }

        _seed.Dispose();
        _stop.Dispose();
        _directory.Delete(recursive: true);
    }

    private static CashUnit Unit(string id, int position, long eur, int count) =>
        new(id, position, Money.FromMajor(eur, "EUR"), count, count, 10, 2000, CashUnitCounters.None);
}
