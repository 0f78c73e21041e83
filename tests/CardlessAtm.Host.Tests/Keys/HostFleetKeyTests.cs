using CardlessAtm.Host.Authorisation;
using CardlessAtm.Host.Processing;
using CardlessAtm.Host.Seeding;
using CardlessAtm.Host.Server;
using CardlessAtm.Host.Storage;
using CardlessAtm.Host.Tests.Support;
using CardlessAtm.Iso8583;
using CardlessAtm.Network;
using CardlessAtm.Security;

namespace CardlessAtm.Host.Tests.Keys;

/// <summary>
/// Two hosts on one PostgreSQL database, each with its own copy of the KEK file and no key directory in common: the
/// keys one writes (the ATM's key change) are the keys the other verifies with, a pruned version is refused by both,
/// and a sign-on or key change accepted by one is refused when replayed to the other.
/// </summary>
public sealed class HostFleetKeyTests : IRequiresPostgres, IAsyncLifetime, IDisposable
{
    private readonly PostgresTestServer _server = new();
    private readonly TempDirectory _dir = new();
    private readonly List<SimulatedAtm> _atms = [];
    private HostServer _a = null!;
    private HostServer _b = null!;
    private DemoSeedResult _seed = null!;
    private SimulatedPhone _phone = null!;

    public async Task InitializeAsync()
    {
        if (PostgresTestServer.SkipReason is not null)
        {
            return;
        }

        var database = _server.CreateDatabase();
        using var kek = SecretKey.Generate(KeyAlgorithm.Aes256);

        // Grace zero: a replaced key version is pruned at the key change that replaces it.
        HostServerOptions Options(string host) => new()
        {
            Store = new HostStoreOptions { Kind = HostStoreKind.Postgres, ConnectionString = database },
            Keys = new HostKeyOptions { KekPath = KekFiles.Write(_dir, host, kek) },
            KeyVaultPath = _dir.File($"{host}-unused-keys"),
            Policy = new HostPolicy { PreviousKeyGrace = TimeSpan.Zero },
        };

        _a = await HostServer.OpenAsync(Options("a"));
        _seed = await DemoSeed.SeedAsync(_a);
        _b = await HostServer.OpenAsync(Options("b"));
        _phone = new SimulatedPhone(_a.Profile, _seed.Phones[0].InitialKey, _seed.Phones[0].InitialKsn);
    }

    public async Task DisposeAsync()
    {
        foreach (var atm in _atms)
        {
            await atm.DisposeAsync();
        }

        if (_b is not null)
        {
            await _b.DisposeAsync();
        }

        if (_a is not null)
        {
            await _a.DisposeAsync();
        }

        _seed?.Dispose();
        Dispose();
    }

    public void Dispose()
    {
        _phone?.Dispose();
        _server.Dispose();
        _dir.Dispose();
    }

    /// <summary>The demo ATM's link to <paramref name="host"/> (one connection: its own session).</summary>
    private SimulatedAtm LinkTo(HostServer host)
    {
        var session = new HostSession();
        var atm = new SimulatedAtm(host.Profile, DemoSeed.AtmId, _seed.Atm.MasterKey, async request =>
            await host.Processor.HandleAsync(request, session) ?? throw new Xunit.Sdk.XunitException($"no response to {request.Mti}"));
        _atms.Add(atm);
        return atm;
    }

    private IsoMessage Withdrawal(SimulatedAtm atm, long amountMinor)
    {
        var qr = atm.IssueSession(amountMinor);
        return atm.Withdrawal(_phone.Request(qr, _seed.Customers[0].AccountId, _seed.Customers[0].Pin));
    }

    private Task<long> BalanceAsync(HostServer host) =>
        host.Store.ReadAsync(r => r.GetAccount(_seed.Customers[0].AccountId)!.BalanceMinor);

    [StoreFact]
    public async Task A_key_change_on_host_a_is_what_host_b_verifies_the_next_withdrawal_with_and_the_pruned_key_is_refused_by_both()
    {
        var toA = LinkTo(_a);
        await toA.SignOnAndChangeKeysAsync(); // version 1, written by A into the database vault
        var toB = LinkTo(_b);
        await toB.ShareKeysWithAsync(toA); // the ATM's link to B signs on and MACs with the keys A gave it
        var opening = await BalanceAsync(_b);

        var approved = await toB.SendCheckedAsync(Withdrawal(toB, 2000));

        Assert.Equal(ResponseCodes.Approved, approved.ResponseCode);
        Assert.Equal(opening - 2000, await BalanceAsync(_a));

        // Two requests under version 1, then A changes the keys to version 2 (grace zero: version 1 pruned everywhere).
        var oldKeyForA = Withdrawal(toA, 1000);
        var oldKeyForB = Withdrawal(toB, 1000);
        var oldVersion = toA.KeyVersion;
        await toA.SignOnAndChangeKeysAsync();
        Assert.Equal(oldVersion + 1, toA.KeyVersion);
        Assert.False(_b.Vault.Contains($"mac-{DemoSeed.AtmId}-v{oldVersion}")); // pruned from the one vault both read

        Assert.Equal(ResponseCodes.SecurityViolation, (await toA.SendAsync(oldKeyForA)).ResponseCode);
        Assert.Equal(ResponseCodes.SecurityViolation, (await toB.SendAsync(oldKeyForB)).ResponseCode);
        Assert.Equal(opening - 2000, await BalanceAsync(_b));

        // B had cached version 1; the new version is read from the vault on its first use.
        var underNewKey = await toB.SendCheckedAsync(Withdrawal(toB, 3000));
        Assert.Equal(ResponseCodes.Approved, underNewKey.ResponseCode);
        Assert.Equal(opening - 5000, await BalanceAsync(_a));
    }

    [StoreFact]
    public async Task A_sign_on_accepted_by_host_a_and_replayed_to_host_b_is_refused()
    {
        var toA = LinkTo(_a);
        await toA.SignOnAndChangeKeysAsync();
        var replayer = LinkTo(_b);

        var replayed = await replayer.SendAsync(toA.LastSignOn!);

        Assert.Equal(ResponseCodes.SecurityViolation, replayed.ResponseCode);
    }

    [StoreFact]
    public async Task A_sign_on_racing_to_both_hosts_is_accepted_by_one_only()
    {
        var toA = LinkTo(_a);
        var toB = LinkTo(_b);
        var signOn = toA.NetworkManagement(NetworkManagementCodes.SignOn);
        IsoMessage? answerFromB = null;

        // Host A has checked the sign-on (MAC, freshness, not in the database yet) when the same sign-on reaches host B,
        // which accepts and records it; then A writes its record.
        _a.Processor.BeforeSignOnRecorded = async request =>
        {
            _a.Processor.BeforeSignOnRecorded = null;
            answerFromB = await toB.SendAsync(request);
        };
        var answerFromA = await toA.SendAsync(signOn);

        Assert.Equal(ResponseCodes.Approved, answerFromB!.ResponseCode);
        Assert.Equal(ResponseCodes.SecurityViolation, answerFromA.ResponseCode);

        // A's connection is not signed on: a key change over it is refused.
        Assert.Equal(ResponseCodes.SecurityViolation, (await toA.SendAsync(toA.NetworkManagement(NetworkManagementCodes.KeyChange))).ResponseCode);
    }

    [StoreFact]
    public async Task A_key_change_accepted_by_host_a_and_replayed_to_host_b_changes_no_key()
    {
        var toA = LinkTo(_a);
        await toA.SignOnAndChangeKeysAsync();
        var toB = LinkTo(_b);
        await toB.ShareKeysWithAsync(toA);
        var keyChange = toA.NetworkManagement(NetworkManagementCodes.KeyChange);
        Assert.Equal(ResponseCodes.Approved, (await toA.SendAsync(keyChange)).ResponseCode);
        var version = (await _a.Store.ReadAsync(r => r.GetAtm(DemoSeed.AtmId)))!.SessionKeyVersion;

        var replayed = await toB.SendAsync(keyChange);

        Assert.Equal(ResponseCodes.SecurityViolation, replayed.ResponseCode);
        Assert.Equal(version, (await _b.Store.ReadAsync(r => r.GetAtm(DemoSeed.AtmId)))!.SessionKeyVersion);
    }
}
