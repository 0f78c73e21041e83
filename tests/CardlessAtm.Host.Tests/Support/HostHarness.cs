using System.Net;
using CardlessAtm.Host.Seeding;
using CardlessAtm.Host.Server;
using CardlessAtm.Host.Storage;

namespace CardlessAtm.Host.Tests.Support;

/// <summary>
/// A host on a free loopback port over a real SQLite file in a temp directory, seeded with the demo
/// data, plus a signed-on simulated ATM and the demo customers' phones.
/// </summary>
public sealed class HostHarness : SeededHost
{
    private HostHarness(TempDirectory dir, HostServer host, DemoSeedResult seed)
        : base(dir, host, seed)
    {
    }

    public static HostServerOptions Options(TempDirectory dir, int port = 0) => new()
    {
        DatabasePath = dir.File("host.db"),
        KeyVaultPath = dir.File("keys"),
        Address = IPAddress.Loopback,
        Port = port,
        Insecure = true, // the simulated ATMs dial plain TCP; TLS is tested in CardlessAtm.Iso8583.Tests and end to end
    };

    public static async Task<HostHarness> StartAsync(Action<HostServerOptions>? configure = null, TimeProvider? time = null)
    {
        var dir = new TempDirectory();
        var options = Options(dir);
        configure?.Invoke(options);
        var host = await HostServer.StartAsync(options, time: time);
        var seed = await DemoSeed.SeedAsync(host);
        var harness = new HostHarness(dir, host, seed);
        harness.Atm = await harness.ConnectAtmAsync();
        harness.SeedPhones();
        return harness;
    }

    public async Task<SimulatedAtm> ConnectAtmAsync(IPEndPoint? endPoint = null)
    {
        var atm = new SimulatedAtm(Host.Profile, DemoSeed.AtmId, Seed.Atm.MasterKey, endPoint ?? Host.LocalEndPoint);
        await atm.ConnectAsync();
        await atm.SignOnAndChangeKeysAsync();
        return atm;
    }

    /// <summary>A second connection of the same ATM, using the first one's session key; its sign-on supersedes the first connection (the host closes it).</summary>
    public async Task<SimulatedAtm> ConnectSecondLinkAsync()
    {
        var atm = new SimulatedAtm(Host.Profile, DemoSeed.AtmId, Seed.Atm.MasterKey, Host.LocalEndPoint);
        await atm.ConnectAsync();
        await atm.ShareKeysWithAsync(Atm);
        return atm;
    }

    public Task<IReadOnlyList<AuditEntry>> AuditAsync(int count = 20) => Host.Store.ReadAsync(r => r.GetRecentAudit(count));
}
