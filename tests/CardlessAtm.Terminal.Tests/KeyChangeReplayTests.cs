using CardlessAtm.Host.Seeding;
using CardlessAtm.Host.Server;
using CardlessAtm.Iso8583;
using CardlessAtm.Iso8583.Channels;
using CardlessAtm.Network;
using CardlessAtm.Security;
using CardlessAtm.Terminal.Links;
using Microsoft.Extensions.Logging.Abstractions;

namespace CardlessAtm.Terminal.Tests;

/// <summary>
/// Issue 12 at the terminal: a replayed old 0810/101 must not reinstall an old key. The terminal's real
/// <see cref="HostLink"/> talks to the real host listener through an on-path relay (loopback TCP) that records
/// the host's first 0810/101 and, on the next key change, answers with that recording — fields 7 and 11
/// rewritten so the channel matches it to the new request, as an attacker on a plain-TCP link would. On main
/// the unMACed 0810 carried no nonce, so the terminal installed the old key.
/// </summary>
#pragma warning disable CA1001 // the relay, client and host are disposed in DisposeAsync (xUnit IAsyncLifetime)
public sealed class KeyChangeReplayTests : IAsyncLifetime
#pragma warning restore CA1001
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("cardless-atm-replay-");
    private HostServer _host = null!;
    private DemoSeedResult _seed = null!;
    private Iso8583Client _upstream = null!;
    private Iso8583Server _relay = null!;
    private IsoMessage? _recorded;

    public bool Replay { get; set; }

    public async Task InitializeAsync()
    {
        _host = await HostServer.StartAsync(new HostServerOptions
        {
            DatabasePath = Path.Combine(_directory.FullName, "host.db"),
            KeyVaultPath = Path.Combine(_directory.FullName, "host-keys"),
            Port = 0,
            Insecure = true, // the attack is an on-path relay that reads and replays the wire: plain TCP on purpose
        });
        _seed = await DemoSeed.SeedAsync(_host);
        _upstream = new Iso8583Client(new Iso8583ClientOptions { Spec = NetworkSpec.Messages, Host = "127.0.0.1", Port = _host.LocalEndPoint.Port, TerminalId = DemoSeed.AtmId });
        await _upstream.StartAsync();
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20)))
        {
            await _upstream.WaitUntilConnectedAsync(timeout.Token);
        }

        _relay = new Iso8583Server(new Iso8583ServerOptions { Spec = NetworkSpec.Messages, Port = 0, RequestHandler = RelayAsync, AnswerEchoTests = false });
        await _relay.StartAsync();
    }

    private async ValueTask<IsoMessage?> RelayAsync(IsoMessage request, Iso8583Connection connection, CancellationToken cancellationToken)
    {
        var answer = await _upstream.SendRequestAsync(request, cancellationToken);
        if (request.NetworkManagementCode != NetworkManagementCodes.KeyChange)
        {
            return answer;
        }

        if (_recorded is null)
        {
            _recorded = answer;
            return answer;
        }

        if (!Replay)
        {
            return answer;
        }

        var replayed = _recorded.Clone();
        replayed.Set(7, request.GetString(7)!);
        replayed.Set(11, request.GetString(11)!);
        return replayed;
    }

    public async Task DisposeAsync()
    {
        await _relay.DisposeAsync();
        await _upstream.DisposeAsync();
        await _host.DisposeAsync();
        _seed.Dispose();
        _directory.Delete(recursive: true);
    }

    private HostLink NewLink()
    {
        var options = new TerminalOptions
        {
            AtmId = DemoSeed.AtmId,
            DataDirectory = _directory.FullName,
            KeyStore = _directory.FullName,
            Host = new EndpointOptions { Port = _relay.LocalEndPoint.Port, Insecure = true },
            Proxy = new EndpointOptions { Port = 9 },
        };
        var master = SecretKey.Create(_seed.Atm.MasterKey.Algorithm, _seed.Atm.MasterKey.ExportBytes());
        return new HostLink(options, _host.Profile, master, new StanGenerator(100), TimeProvider.System, NullLogger.Instance);
    }

    [Fact]
    public async Task A_replayed_old_0810_is_refused_and_the_session_key_stays()
    {
        await using var link = NewLink();
        await link.StartAsync(CancellationToken.None);
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20)))
        {
            await link.WaitUntilReadyAsync(timeout.Token);
        }

        var key = link.SessionKey;
        var version = link.KeyVersion;
        Assert.NotNull(_recorded);
        Assert.Equal(1, version);

        Replay = true;
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20)))
        {
            await Assert.ThrowsAsync<InvalidOperationException>(() => link.RekeyAsync(timeout.Token));
        }

        Assert.Same(key, link.SessionKey);
        Assert.Equal(version, link.KeyVersion);

        // A genuine key change afterwards moves the terminal forward (the host is at version 3 by now).
        Replay = false;
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20)))
        {
            await link.RekeyAsync(timeout.Token);
        }

        Assert.NotSame(key, link.SessionKey);
        var atm = await _host.Store.ReadAsync(r => r.GetAtm(DemoSeed.AtmId)!);
        Assert.Equal(atm.SessionKeyVersion, link.KeyVersion);
    }
}
