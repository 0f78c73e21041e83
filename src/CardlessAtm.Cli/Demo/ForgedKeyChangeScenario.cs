using CardlessAtm.Host.Seeding;
using CardlessAtm.Iso8583;
using CardlessAtm.Iso8583.Channels;
using CardlessAtm.Network;
using CardlessAtm.Security;

namespace CardlessAtm.Cli.Demo;

/// <summary>
/// <c>demo --scenario forged-key-change</c> (issue 12): a tap between ATM00001 and the host records the ATM's genuine
/// sign-on (0800/001) and key change (0800/101) as it dials in; then an attacker opens a connection of its own to the
/// host and sends a forged 0800/101 for ATM00001 (no MAC: it does not hold the ATM's master key) and a replay of the
/// recorded pair. The host answers the forged and the replayed key change 63 and the ATM's key version at the host stays
/// what it was; the scenario then serves a customer as usual (the real ATM's keys still work).
/// </summary>
internal sealed class ForgedKeyChangeScenario : IAsyncDisposable
{
    private readonly Iso8583Client _upstream;
    private readonly Iso8583Server _tap;
    private IsoMessage? _capturedSignOn;
    private IsoMessage? _capturedKeyChange;

    private ForgedKeyChangeScenario(Iso8583Client upstream, Iso8583Server tap)
    {
        _upstream = upstream;
        _tap = tap;
    }

    /// <summary>The port the ATM dials instead of the host's.</summary>
    public int Port => _tap.LocalEndPoint.Port;

    /// <summary>Starts the recording tap in front of the host on <paramref name="hostPort"/>.</summary>
    public static async Task<ForgedKeyChangeScenario> StartTapAsync(int hostPort, CancellationToken cancellationToken)
    {
        var upstream = new Iso8583Client(new Iso8583ClientOptions { Spec = NetworkSpec.Messages, Host = "127.0.0.1", Port = hostPort, TerminalId = DemoSeed.AtmId });
        await upstream.StartAsync(cancellationToken);
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            timeout.CancelAfter(TimeSpan.FromSeconds(30));
            await upstream.WaitUntilConnectedAsync(timeout.Token);
        }

        ForgedKeyChangeScenario? scenario = null;
        var tap = new Iso8583Server(new Iso8583ServerOptions
        {
            Spec = NetworkSpec.Messages,
            Port = 0,
            AnswerEchoTests = false,
            RequestHandler = async (request, _, ct) => await scenario!.RelayAsync(request, ct),
        });
        scenario = new ForgedKeyChangeScenario(upstream, tap);
        await tap.StartAsync(cancellationToken);
        return scenario;
    }

    private async ValueTask<IsoMessage?> RelayAsync(IsoMessage request, CancellationToken cancellationToken)
    {
        if (request.Mti == Mti.NetworkManagementRequest)
        {
            if (request.NetworkManagementCode == NetworkManagementCodes.SignOn)
            {
                _capturedSignOn ??= request.Clone();
            }
            else if (request.NetworkManagementCode == NetworkManagementCodes.KeyChange)
            {
                _capturedKeyChange ??= request.Clone();
            }
        }

        return await _upstream.SendRequestAsync(request, cancellationToken);
    }

    /// <summary>
    /// The attack, after ATM00001 signed on through the tap. Returns whether every key change was refused and the key
    /// version unchanged, and the summary's phrase.
    /// </summary>
    public async Task<(bool Refused, string Outcome)> AttackAsync(DemoNetwork network, Action<string> say, CancellationToken cancellationToken)
    {
        var target = DemoSeed.AtmId;
        var before = (await network.Host.Store.ReadAsync(r => r.GetAtm(target)!, cancellationToken)).SessionKeyVersion;
        say($"(scenario: an attacker connects to the host and tries to change {target}'s keys; {target} is at session key version {before})");
        await using var attacker = new Iso8583Client(new Iso8583ClientOptions
        {
            Spec = NetworkSpec.Messages,
            Host = "127.0.0.1",
            Port = network.HostPort,
            TerminalId = target,
            ReconnectInitialDelay = TimeSpan.FromHours(1),
            ReconnectMaxDelay = TimeSpan.FromHours(1),
        });
        await attacker.StartAsync(cancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        await attacker.WaitUntilConnectedAsync(timeout.Token);

        var forged = new IsoMessage(NetworkSpec.Messages, Mti.NetworkManagementRequest) { Stan = 900_001, TerminalId = target, NetworkManagementCode = NetworkManagementCodes.KeyChange };
        forged.SetTransmissionDateTime(DateTimeOffset.UtcNow);
        forged.KeyChangeData = KeyChangeRequestData.Encode(KeyChangeRequestData.CreateNonce());
        var forgedCode = (await attacker.SendRequestAsync(forged, timeout.Token)).ResponseCode;
        say($"   forged 0800/101 for {target} (no valid MAC): the host answered {forgedCode} ({ResponseCodes.Describe(forgedCode)})");

        var signOn = _capturedSignOn ?? throw new InvalidOperationException("The tap recorded no sign-on.");
        var keyChange = _capturedKeyChange ?? throw new InvalidOperationException("The tap recorded no key change.");
        var signOnCode = (await attacker.SendRequestAsync(signOn.Clone(), timeout.Token)).ResponseCode;
        say($"   replayed 0800/001 recorded from {target} (stan {signOn.Stan:D6}): the host answered {signOnCode} ({ResponseCodes.Describe(signOnCode)})");
        var replay = await attacker.SendRequestAsync(keyChange.Clone(), timeout.Token);
        var replayCode = replay.ResponseCode;
        say($"   replayed 0800/101 recorded from {target} (stan {keyChange.Stan:D6}, nonce already used): the host answered {replayCode} ({ResponseCodes.Describe(replayCode)}), {(replay.KeyChangeData is null ? "no keys in the answer" : "KEYS IN THE ANSWER")}");

        // The replayed sign-on is refused (already used, or stale: docs/protocol/iso8583.md §2.6); a key change needs the MAC anyway.
        var forgedAgain = new IsoMessage(NetworkSpec.Messages, Mti.NetworkManagementRequest) { Stan = 900_002, TerminalId = target, NetworkManagementCode = NetworkManagementCodes.KeyChange };
        forgedAgain.SetTransmissionDateTime(DateTimeOffset.UtcNow);
        forgedAgain.KeyChangeData = KeyChangeRequestData.Encode(KeyChangeRequestData.CreateNonce());
        var forgedAgainCode = (await attacker.SendRequestAsync(forgedAgain, timeout.Token)).ResponseCode;
        say($"   forged 0800/101 for {target} with a fresh nonce after that sign-on (no valid MAC): the host answered {forgedAgainCode} ({ResponseCodes.Describe(forgedAgainCode)})");

        var after = (await network.Host.Store.ReadAsync(r => r.GetAtm(target)!, cancellationToken)).SessionKeyVersion;
        var refused = forgedCode == ResponseCodes.SecurityViolation && forgedAgainCode == ResponseCodes.SecurityViolation && replayCode == ResponseCodes.SecurityViolation && replay.KeyChangeData is null && after == before;
        say(refused
            ? $"   {target}'s session key version at the host is unchanged: {after}"
            : $"   {target}'s session key version at the host went {before} → {after}: THE KEY CHANGE WAS NOT REFUSED");
        return (refused, refused ? $"forged and replayed key change refused 63, key version {after} unchanged" : "KEY CHANGE NOT REFUSED");
    }

    public async ValueTask DisposeAsync()
    {
        await _tap.DisposeAsync();
        await _upstream.DisposeAsync();
    }
}
