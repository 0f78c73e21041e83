using CardlessAtm.Host.Authorisation;
using CardlessAtm.Host.Processing;
using CardlessAtm.Host.Seeding;
using CardlessAtm.Host.Server;
using CardlessAtm.Host.Storage;
using CardlessAtm.Iso8583;
using CardlessAtm.Network;

namespace CardlessAtm.Host.Tests.Support;

/// <summary>
/// The host without a socket: the real SQLite ledger in a temp directory, the real key vault and security profile,
/// the demo seed, and a simulated ATM whose requests go straight to <see cref="HostProcessor.HandleAsync(IsoMessage, HostSession, CancellationToken)"/>. The ATM
/// has signed on and changed keys through the processor, as a terminal would.
/// </summary>
public sealed class InProcessHost : SeededHost
{
    private readonly List<SimulatedAtm> _atms = [];

    private InProcessHost(TempDirectory dir, HostServer host, DemoSeedResult seed)
        : base(dir, host, seed)
    {
    }

    public HostProcessor Processor => Host.Processor;

    /// <summary>The connection the demo ATM (<see cref="SeededHost.Atm"/>) signed on over; requests sent without one arrive on it.</summary>
    public HostSession AtmConnection { get; } = new();

    /// <param name="policy">The host's policy; the defaults when null.</param>
    /// <param name="time">The host's clock (processor and ledger); the system clock when null. The simulated ATM dates its messages by the real clock.</param>
    public static async Task<InProcessHost> StartAsync(HostPolicy? policy = null, TimeProvider? time = null)
    {
        var dir = new TempDirectory();
        var options = HostHarness.Options(dir);
        if (policy is not null)
        {
            options.Policy = policy;
        }

        var host = await HostServer.OpenAsync(options, time: time);
        var seed = await DemoSeed.SeedAsync(host);
        var harness = new InProcessHost(dir, host, seed);
        harness.Atm = harness.NewAtm(DemoSeed.AtmId, seed.Atm.MasterKey, harness.AtmConnection);
        await harness.Atm.SignOnAndChangeKeysAsync();
        harness.SeedPhones();
        return harness;
    }

    /// <summary>A simulated ATM wired to the processor (not signed on, no session key).</summary>
    public SimulatedAtm NewAtm(string atmId, CardlessAtm.Security.SecretKey masterKey, HostSession? connection = null)
    {
        // Each simulated ATM is a connection of its own: what it signs on over serves only its requests.
        connection ??= new HostSession();
        var atm = new SimulatedAtm(Host.Profile, atmId, masterKey, request => SendAsync(request, connection));
        _atms.Add(atm);
        return atm;
    }

    /// <summary>The processor's answer; fails the test for a message that got none.</summary>
    /// <param name="request">The request.</param>
    /// <param name="connection">The connection it arrives on; the demo ATM's (<see cref="AtmConnection"/>) when null.</param>
    public async Task<IsoMessage> SendAsync(IsoMessage request, HostSession? connection = null) =>
        await Processor.HandleAsync(request, connection ?? AtmConnection) ?? throw new Xunit.Sdk.XunitException($"no response to {request.Mti}");

    public async Task<AuditEntry> LastAuditAsync() => (await Host.Store.ReadAsync(r => r.GetRecentAudit(1)))[0];

    public Task<AtmRecord?> AtmRecordAsync(string atmId = DemoSeed.AtmId) => Host.Store.ReadAsync(r => r.GetAtm(atmId));

    /// <summary>The ATM's declined count in today's day report (0 without a line).</summary>
    public async Task<int> DeclinedTodayAsync(string atmId = DemoSeed.AtmId)
    {
        var today = DateOnly.FromDateTime(DateTime.UtcNow);
        var report = await Host.Store.ReadAsync(r => r.GetDayReport(today));
        return report.SingleOrDefault(l => l.AtmId == atmId)?.DeclinedCount ?? 0;
    }

    public static RequestKey KeyOf(IsoMessage request) =>
        new(request.TerminalId!, request.GetString(11)!, request.GetString(7)!);

    public Task<TransactionRecord?> TransactionAsync(IsoMessage request) => Host.Store.ReadAsync(r => r.FindTransaction(KeyOf(request)));

    public Task<ReversalRecord?> ReversalAsync(IsoMessage original) => Host.Store.ReadAsync(r => r.FindReversal(KeyOf(original)));

    protected override IEnumerable<SimulatedAtm> OwnedAtms() => _atms;
}
