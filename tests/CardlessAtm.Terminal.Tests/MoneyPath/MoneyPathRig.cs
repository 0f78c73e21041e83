using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Devices.Simulated;
using CardlessAtm.Iso8583;
using CardlessAtm.Iso8583.Channels;
using CardlessAtm.Network;
using CardlessAtm.Terminal.Flow;
using CardlessAtm.Terminal.Journal;
using CardlessAtm.Terminal.Links;
using CardlessAtm.Terminal.StoreAndForward;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace CardlessAtm.Terminal.Tests.MoneyPath;

/// <summary>
/// The terminal's money path without the network: the real journal and reversal queue on temporary files, the
/// real cash dispenser over the simulated device, and a host link whose every answer the test writes.
/// </summary>
internal sealed class MoneyPathRig : IDisposable
{
    public const string AtmId = "ATM00001";
    private readonly DirectoryInfo _directory;

    private MoneyPathRig(DirectoryInfo directory, FakeTimeProvider time, SimulatedDispenserDevice device, CashDispenser dispenser, SimulatedFaultSensors sensors, TerminalOptions options)
    {
        _directory = directory;
        Time = time;
        Device = device;
        Dispenser = dispenser;
        Sensors = sensors;
        Options = options;
        Host = new ScriptedHostLink(time);
        Journal = new ElectronicJournal(Path.Combine(directory.FullName, "journal.log"), time);
        Queue = new ReversalStore(Path.Combine(directory.FullName, "saf"));
        Forwarder = new ReversalForwarder(Queue, Host, Journal, options, time, NullLogger.Instance);
        Metrics = new TerminalMetrics(() => Queue.Depth, () => Forwarder.StuckCount);
        Transaction = new WithdrawalTransaction(Host, dispenser, Forwarder, Journal, options, Metrics, time, NullLogger.Instance);
        Transaction.DispenserUnusable += reason => UnusableReason = reason;
    }

    public FakeTimeProvider Time { get; }

    public SimulatedDispenserDevice Device { get; }

    public CashDispenser Dispenser { get; }

    public SimulatedFaultSensors Sensors { get; }

    public TerminalOptions Options { get; }

    public ScriptedHostLink Host { get; }

    public ElectronicJournal Journal { get; }

    public ReversalStore Queue { get; }

    public ReversalForwarder Forwarder { get; }

    public TerminalMetrics Metrics { get; }

    public WithdrawalTransaction Transaction { get; }

    public string? UnusableReason { get; private set; }

    public string DataDirectory => _directory.FullName;

    /// <param name="configure">Changes to the terminal options.</param>
    /// <param name="presenting">What the simulated dispenser can do at its exit (default: detects taken, retracts, counts).</param>
    /// <param name="wrap">Puts another vendor device between the simulated one and the cash dispenser.</param>
    public static async Task<MoneyPathRig> CreateAsync(
        Action<TerminalOptions>? configure = null, PresentCapability? presenting = null, Func<SimulatedDispenserDevice, IDispenserDevice>? wrap = null)
    {
        var directory = Directory.CreateTempSubdirectory("cardless-atm-moneypath-");
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 1, 10, 0, 0, TimeSpan.Zero));
        var units = new List<CashUnit> { Unit("CASS1", 1, 10, 100), Unit("CASS2", 2, 20, 100), Unit("CASS3", 3, 50, 100) };
        var device = new SimulatedDispenserDevice(units.ToDictionary(u => u.Position, u => u.Count), 40, time, presenting: presenting);
        var sensors = SimulatedFaultSensors.Standard(3);
        var dispenser = await CashDispenser.OpenAsync(wrap?.Invoke(device) ?? device, CashUnitLayout.Create(units), new InMemoryCashUnitStore(), MixAlgorithm.MinimumNotes, sensors, NullLogger.Instance, CancellationToken.None);
        var options = new TerminalOptions
        {
            AtmId = AtmId,
            KeyStore = directory.FullName,
            DataDirectory = directory.FullName,
            Host = new EndpointOptions { Port = 1, Insecure = true }, // never dialled: the rig fakes the links
            Proxy = new EndpointOptions { Port = 2, Insecure = true },
            ReversalRetryInitial = TimeSpan.FromSeconds(1),
            ReversalRetryMax = TimeSpan.FromSeconds(60),
            ReversalMaxAttempts = 5,
            DispenseTimeout = TimeSpan.FromSeconds(10),
        };
        configure?.Invoke(options);
        return new MoneyPathRig(directory, time, device, dispenser, sensors, options);
    }

    /// <summary>80.00 EUR as the fault check would pick it: 10, 20, then 50.</summary>
    public static Mix Mix80 { get; } = new(Money.FromMajor(80, "EUR"),
    [
        new MixItem("CASS1", 1, Money.FromMajor(10, "EUR"), 1),
        new MixItem("CASS2", 2, Money.FromMajor(20, "EUR"), 1),
        new MixItem("CASS3", 3, Money.FromMajor(50, "EUR"), 1),
    ]);

    /// <summary>The phone's 0200 as the gate hands it over (fields 3, 4, 11, 41, 49).</summary>
    public static IsoMessage PhoneRequest(long amountMinor = 8_000)
    {
        var request = new IsoMessage(NetworkSpec.Messages, Mti.FinancialRequest) { ProcessingCode = "010000", AmountMinor = amountMinor, Stan = 42, TerminalId = AtmId, CurrencyCode = 978 };
        return request;
    }

    public Task<WithdrawalSettlement> WithdrawAsync(Task<bool>? cancelPressed = null) =>
        Transaction.RunAsync("session-1", Money.FromMajor(80, "EUR"), Mix80, PhoneRequest(), Host.NextStan(), cancelPressed ?? Task.FromResult(false), CancellationToken.None);

    public int NotesIn(string unit) => Dispenser.CashUnits.Single(u => u.Id == unit).Count;

    public int NotesLeft => Dispenser.CashUnits.Sum(u => u.Count);

    public PendingReversal SingleReversal() => Assert.Single(Queue.Pending);

    /// <summary>Advances the fake clock a second at a time until the withdrawal ends (at most two present timeouts).</summary>
    public async Task<WithdrawalSettlement> RunOnFakeTimeAsync(Task<WithdrawalSettlement> withdrawal)
    {
        for (var second = 0; !withdrawal.IsCompleted && second < 2 * Options.PresentTimeout.TotalSeconds; second++)
        {
            await Task.WhenAny(withdrawal, Task.Delay(20));
            if (!withdrawal.IsCompleted)
            {
                Time.Advance(TimeSpan.FromSeconds(1));
            }
        }

        return await withdrawal.WaitAsync(TimeSpan.FromSeconds(10));
    }

    public IReadOnlyList<JournalEntry> Entries() => Journal.ReadAllEntries();

    public void Dispose()
    {
        Forwarder.Dispose();
        Metrics.Dispose();
        Journal.Dispose();
        _directory.Delete(recursive: true);
    }

    private static CashUnit Unit(string id, int position, long eur, int count) =>
        new(id, position, Money.FromMajor(eur, "EUR"), count, count, 10, 2000, CashUnitCounters.None);
}

/// <summary>A host link whose answers the test scripts, one per request, recording what was sent.</summary>
internal sealed class ScriptedHostLink(TimeProvider time) : IHostLink
{
    private readonly Queue<Func<IsoMessage, HostAnswer>> _answers = new();
    private int _stan;

    public List<IsoMessage> Sent { get; } = [];

    /// <summary>Re-keys asked for, failed ones included.</summary>
    public int Rekeys { get; private set; }

    public bool Ready { get; set; } = true;

    public bool IsReady => Ready;

    public SessionMacKey? SessionKey => null;

    public int KeyVersion { get; private set; } = 1;

    /// <summary>Answers the next request with this field 39 (MAC verified, all fields echoed).</summary>
    public ScriptedHostLink Answers(string responseCode) => Then(r => new HostAnswer(Respond(r, responseCode), MacVerified: true));

    /// <summary>Answers the next request with a function of it.</summary>
    public ScriptedHostLink Then(Func<IsoMessage, HostAnswer> answer)
    {
        _answers.Enqueue(answer);
        return this;
    }

    /// <summary>The next request gets no answer: the link reports a timeout.</summary>
    public ScriptedHostLink TimesOut() => Then(_ => throw new Iso8583ChannelException(ChannelErrorReason.Timeout, "no answer within the request timeout"));

    public static IsoMessage Respond(IsoMessage request, string code)
    {
        var response = request.CreateResponse(code);
        if (code == ResponseCodes.Approved && request.Mti == Mti.FinancialRequest)
        {
            response.AuthorizationCode = "A1B2C3";
        }

        return response;
    }

    public Task WaitUntilReadyAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public int NextStan() => Interlocked.Increment(ref _stan);

    public IsoMessage NewRequest(string mti)
    {
        var message = new IsoMessage(NetworkSpec.Messages, mti) { Stan = NextStan(), TerminalId = MoneyPathRig.AtmId };
        message.SetTransmissionDateTime(time.GetUtcNow());
        return message;
    }

    public string NewRetrievalReference(int stan) => $"63351{stan:D7}";

    public Task<HostAnswer> SendAsync(IsoMessage request, CancellationToken cancellationToken)
    {
        Sent.Add(request);
        if (!_answers.TryDequeue(out var answer))
        {
            throw new InvalidOperationException($"The test scripted no answer for request {Sent.Count} ({request.Mti}).");
        }

        var result = answer(request);
        return Task.FromResult(result with { Mismatch = HostAnswer.FindMismatch(request, result.Response) });
    }

    /// <summary>Faults the next re-keys throw, one each (e.g. a field 120 that fails its check, a timeout).</summary>
    public Queue<Exception> RekeyFaults { get; } = new();

    public Task RekeyAsync(CancellationToken cancellationToken)
    {
        Rekeys++;
        if (RekeyFaults.TryDequeue(out var fault))
        {
            throw fault;
        }

        KeyVersion++;
        return Task.CompletedTask;
    }
}
