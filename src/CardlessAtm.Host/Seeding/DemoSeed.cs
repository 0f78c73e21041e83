using CardlessAtm.Host.Administration;
using CardlessAtm.Host.Server;

namespace CardlessAtm.Host.Seeding;

/// <summary>A demo customer: account, PIN and opening balance (the PIN is demo data, printed on purpose).</summary>
/// <param name="AccountId">The account id (digits).</param>
/// <param name="HolderName">Display name.</param>
/// <param name="Pin">The demo PIN.</param>
/// <param name="OpeningBalanceMinor">Opening balance in minor units.</param>
public sealed record DemoCustomer(string AccountId, string HolderName, string Pin, long OpeningBalanceMinor)
{
    /// <summary>Without the PIN.</summary>
    public override string ToString() => $"DemoCustomer {{ AccountId = {AccountId}, HolderName = {HolderName}, OpeningBalanceMinor = {OpeningBalanceMinor} }}";
}

/// <summary>
/// What <see cref="DemoSeed.SeedAsync(HostServer, CancellationToken)"/> created: the customers, the ATM with its terminal master key
/// and one phone per customer with its DUKPT initial key. Keys are generated at run time (never
/// committed); dispose this to zero them.
/// </summary>
public sealed class DemoSeedResult : IDisposable
{
    internal DemoSeedResult(IReadOnlyList<DemoCustomer> customers, AtmProvisioning atm, IReadOnlyList<PhoneProvisioning> phones)
    {
        Customers = customers;
        Atm = atm;
        Phones = phones;
    }

    /// <summary>The demo customers (the first one is the one the demo uses).</summary>
    public IReadOnlyList<DemoCustomer> Customers { get; }

    /// <summary>The demo ATM and its terminal master key (load it into the terminal, which then asks for session keys with an 0800 key change).</summary>
    public AtmProvisioning Atm { get; }

    /// <summary>One phone per customer, in the same order: the initial KSN and initial key to load into the phone's DUKPT device.</summary>
    public IReadOnlyList<PhoneProvisioning> Phones { get; }

    /// <summary>Zeroes the keys held here.</summary>
    public void Dispose()
    {
        Atm.MasterKey.Dispose();
        foreach (var phone in Phones)
        {
            phone.InitialKey.Dispose();
        }
    }
}

/// <summary>Demo data: a few accounts with known balances and PINs, one ATM and a phone per account.</summary>
public static class DemoSeed
{
    /// <summary>The demo ATM's id.</summary>
    public const string AtmId = "ATM00001";

    /// <summary>EUR, the demo currency.</summary>
    public const int Currency = 978;

    /// <summary>The demo customers.</summary>
    public static IReadOnlyList<DemoCustomer> Customers { get; } =
    [
        new("100000000001", "Ada Lovelace", "1234", 250_000),
        new("100000000002", "Alan Turing", "4321", 5_000),
        new("100000000003", "Grace Hopper", "2468", 0),
    ];

    /// <summary>
    /// Creates the demo customers (daily limit 1,000.00 EUR, 10 withdrawals), the ATM
    /// <see cref="AtmId"/> and a phone per customer on an empty host.
    /// </summary>
    /// <exception cref="HostAdministrationException">The host already holds some of the demo data.</exception>
    public static Task<DemoSeedResult> SeedAsync(HostServer host, CancellationToken cancellationToken = default) =>
        SeedAsync(host, replaceExistingKey: false, cancellationToken);

    /// <summary>As <see cref="SeedAsync(HostServer, CancellationToken)"/>, replacing a <c>tmk-ATM00001</c> already in the host's key store when asked.</summary>
    /// <exception cref="HostAdministrationException">The host already holds some of the demo data, or the ATM's key without <paramref name="replaceExistingKey"/> (then nothing is written).</exception>
    public static async Task<DemoSeedResult> SeedAsync(HostServer host, bool replaceExistingKey, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(host);
        var admin = host.Administration;
        admin.EnsureMasterKeyReplaceable(AtmId, replaceExistingKey);
        foreach (var customer in Customers)
        {
            await admin.AddAccountAsync(
                new NewAccount(customer.AccountId, customer.HolderName, Currency, customer.OpeningBalanceMinor, DailyAmountLimitMinor: 100_000, DailyCountLimit: 10),
                customer.Pin,
                cancellationToken);
        }

        var atm = await admin.AddAtmAsync(AtmId, "Demo branch, lobby", Currency, replaceExistingKey, cancellationToken);
        var phones = new List<PhoneProvisioning>();
        try
        {
            foreach (var customer in Customers)
            {
                phones.Add(await admin.EnrolPhoneAsync(customer.AccountId, cancellationToken: cancellationToken));
            }
        }
        catch
        {
            atm.MasterKey.Dispose();
            phones.ForEach(p => p.InitialKey.Dispose());
            throw;
        }

        return new DemoSeedResult(Customers, atm, phones);
    }
}
