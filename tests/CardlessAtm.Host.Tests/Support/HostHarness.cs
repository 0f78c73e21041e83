using System.Net;
using CardlessAtm.Host.Seeding;
using CardlessAtm.Host.Server;
using CardlessAtm.Host.Storage;
using CardlessAtm.Iso8583;

namespace CardlessAtm.Host.Tests.Support;

/// <summary>
/// A host on a free loopback port over a real SQLite file in a temp directory, seeded with the demo
/// data, plus a signed-on simulated ATM and the demo customers' phones.
/// </summary>
public sealed class HostHarness : IAsyncDisposable
{
    private HostHarness(TempDirectory dir, HostServer host, DemoSeedResult seed)
    {
        Dir = dir;
        Host = host;
        Seed = seed;
    }

    public TempDirectory Dir { get; }

    public HostServer Host { get; }

    public DemoSeedResult Seed { get; }

    public SimulatedAtm Atm { get; private set; } = null!;

    public IReadOnlyList<SimulatedPhone> Phones { get; private set; } = [];

    public DemoCustomer Customer(int index) => Seed.Customers[index];

    public static HostServerOptions Options(TempDirectory dir, int port = 0) => new()
    {
        DatabasePath = dir.File("host.db"),
        KeyVaultPath = dir.File("keys"),
        Address = IPAddress.Loopback,
        Port = port,
        Insecure = true, // the simulated ATMs dial plain TCP; TLS is tested in CardlessAtm.Iso8583.Tests and end to end
    };

    public static async Task<HostHarness> StartAsync()
    {
        var dir = new TempDirectory();
        var host = await HostServer.StartAsync(Options(dir));
        var seed = await DemoSeed.SeedAsync(host);
        var harness = new HostHarness(dir, host, seed);
        harness.Atm = await harness.ConnectAtmAsync();
        harness.Phones = [.. seed.Phones.Select(p => new SimulatedPhone(host.Profile, p.InitialKey, p.InitialKsn))];
        return harness;
    }

    public async Task<SimulatedAtm> ConnectAtmAsync(IPEndPoint? endPoint = null)
    {
        var atm = new SimulatedAtm(Host.Profile, DemoSeed.AtmId, Seed.Atm.MasterKey, endPoint ?? Host.LocalEndPoint);
        await atm.ConnectAsync();
        await atm.SignOnAndChangeKeysAsync();
        return atm;
    }

    /// <summary>A second connection of the same ATM, using the first one's session key.</summary>
    public async Task<SimulatedAtm> ConnectSecondLinkAsync()
    {
        var atm = new SimulatedAtm(Host.Profile, DemoSeed.AtmId, Seed.Atm.MasterKey, Host.LocalEndPoint);
        await atm.ConnectAsync();
        await atm.ShareKeysWithAsync(Atm);
        return atm;
    }

    public Task<long> BalanceAsync(int customer) =>
        Host.Store.ReadAsync(r => r.GetAccount(Customer(customer).AccountId)!.BalanceMinor);

    public Task<LedgerTotals> TotalsAsync() => Host.Store.ReadAsync(r => r.GetLedgerTotals());

    public Task<IReadOnlyList<AuditEntry>> AuditAsync(int count = 20) => Host.Store.ReadAsync(r => r.GetRecentAudit(count));

    /// <summary>A full withdrawal request for customer <paramref name="customer"/> with a fresh session.</summary>
    public IsoMessage Withdrawal(int customer, long amountMinor, string? pin = null)
    {
        var qr = Atm.IssueSession(amountMinor);
        var phone = Phones[customer].Request(qr, Customer(customer).AccountId, pin ?? Customer(customer).Pin);
        return Atm.Withdrawal(phone);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var phone in Phones)
        {
            phone.Dispose();
        }

        if (Atm is not null)
        {
            await Atm.DisposeAsync();
        }

        await Host.DisposeAsync();
        Seed.Dispose();
        Dir.Dispose();
    }
}
