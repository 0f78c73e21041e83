using CardlessAtm.Host.Seeding;
using CardlessAtm.Host.Server;
using CardlessAtm.Host.Storage;
using CardlessAtm.Iso8583;

namespace CardlessAtm.Host.Tests.Support;

/// <summary>
/// What both host test harnesses share: a host over a real SQLite file in a temp directory, seeded with the demo
/// data, a signed-on simulated ATM, the demo customers' phones, and the ledger reads the tests assert on. The
/// harnesses differ only in how the ATM reaches the host (<see cref="HostHarness"/>: TCP; <see cref="InProcessHost"/>: the processor directly).
/// </summary>
public abstract class SeededHost(TempDirectory dir, HostServer host, DemoSeedResult seed) : IAsyncDisposable
{
    public TempDirectory Dir { get; } = dir;

    public HostServer Host { get; } = host;

    public DemoSeedResult Seed { get; } = seed;

    public SimulatedAtm Atm { get; protected set; } = null!;

    public IReadOnlyList<SimulatedPhone> Phones { get; protected set; } = [];

    public DemoCustomer Customer(int index) => Seed.Customers[index];

    public Task<long> BalanceAsync(int customer) =>
        Host.Store.ReadAsync(r => r.GetAccount(Customer(customer).AccountId)!.BalanceMinor);

    public Task<LedgerTotals> TotalsAsync() => Host.Store.ReadAsync(r => r.GetLedgerTotals());

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

        foreach (var atm in OwnedAtms())
        {
            await atm.DisposeAsync();
        }

        await Host.DisposeAsync();
        Seed.Dispose();
        Dir.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>The simulated ATMs this harness made and disposes.</summary>
    protected virtual IEnumerable<SimulatedAtm> OwnedAtms() => Atm is null ? [] : [Atm];

    protected void SeedPhones() => Phones = [.. Seed.Phones.Select(p => new SimulatedPhone(Host.Profile, p.InitialKey, p.InitialKsn))];
}
