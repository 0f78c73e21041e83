using System.Globalization;
using CardlessAtm.Iso8583;
using CardlessAtm.Iso8583.Channels;
using CardlessAtm.Iso8583.Mac;
using CardlessAtm.Network;
using CardlessAtm.Security;
using Microsoft.Extensions.Logging;

namespace CardlessAtm.Terminal.Links;

/// <summary>The host's answer to a request, with whether its MAC verified and whether it answers this very request.</summary>
/// <param name="Response">The response message.</param>
/// <param name="MacVerified">Whether the host's MAC verified under the current session key.</param>
/// <param name="Mismatch">
/// Null when fields 4, 7, 11, 37 and 41 (those the request carries) are echoed unchanged; otherwise the fields
/// that differ — a replayed or misrouted answer, never acted on.
/// </param>
public sealed record HostAnswer(IsoMessage Response, bool MacVerified, string? Mismatch = null)
{
    /// <summary>The fields an answer must echo unchanged to be the answer to its request.</summary>
    public static IReadOnlyList<int> BoundFields { get; } = [4, 7, 11, 37, 41];

    /// <summary>The response code (field 39), or null.</summary>
    public string? ResponseCode => Response.ResponseCode;

    /// <summary>Whether the answer may be acted on at all: its MAC verifies and it is bound to the request.</summary>
    public bool IsAuthentic => MacVerified && Mismatch is null;

    /// <summary>An approval the terminal may act on: code 00, a MAC that verifies, and bound to the request.</summary>
    public bool IsAuthenticApproval => IsAuthentic && ResponseCode == ResponseCodes.Approved;

    /// <summary>The bound fields that differ between <paramref name="request"/> and <paramref name="response"/> ("7, 37"), or null.</summary>
    public static string? FindMismatch(IsoMessage request, IsoMessage response)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(response);
        var differing = BoundFields
            .Where(f => request.GetBytes(f) is { } sent && (response.GetBytes(f) is not { } echoed || !sent.AsSpan().SequenceEqual(echoed)))
            .ToList();
        return differing.Count == 0 ? null : string.Join(", ", differing);
    }
}

/// <summary>What the withdrawal transaction and the reversal queue need of the link to the host.</summary>
public interface IHostLink
{
    /// <summary>Whether the link is up and has session keys.</summary>
    bool IsReady { get; }

    /// <summary>The current session MAC key (null before the first key change).</summary>
    SessionMacKey? SessionKey { get; }

    /// <summary>The host's version of the session keys in use (0 before the first key change).</summary>
    int KeyVersion { get; }

    /// <summary>Waits until the link is signed on with keys.</summary>
    Task WaitUntilReadyAsync(CancellationToken cancellationToken);

    /// <summary>The next STAN of this terminal.</summary>
    int NextStan();

    /// <summary>Builds a request with the fields every terminal message carries: 7, 11, 12, 13, 41.</summary>
    IsoMessage NewRequest(string mti);

    /// <summary>Field 37 for a request with this STAN.</summary>
    string NewRetrievalReference(int stan);

    /// <summary>Sends a request MACed with the session key; the answer says whether its MAC verified and whether it is bound to the request.</summary>
    /// <exception cref="Iso8583ChannelException">Not connected, timed out, or the link broke: the outcome is unknown.</exception>
    /// <exception cref="InvalidOperationException">No session key yet.</exception>
    Task<HostAnswer> SendAsync(IsoMessage request, CancellationToken cancellationToken);

    /// <summary>Signs on again and obtains fresh session keys (after the host refused a MAC or said the keys are stale).</summary>
    /// <exception cref="Iso8583ChannelException">The link is down or broke.</exception>
    /// <exception cref="InvalidOperationException">The host refused the sign-on or the key change.</exception>
    Task RekeyAsync(CancellationToken cancellationToken);
}

/// <summary>
/// The terminal's persistent link to the host: dials out, signs on (0800/001), obtains fresh session keys
/// (0800/101, opened under the terminal master key and checked against their KCVs), keeps the link alive
/// with echo tests and reconnects with backoff. Every financial message is MACed with the session key and
/// every answer's MAC is verified.
/// </summary>
public sealed class HostLink : IHostLink, IAsyncDisposable
{
    private readonly TerminalOptions _options;
    private readonly ISecurityProfile _profile;
    private readonly SecretKey _masterKey;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Iso8583Client _client;
    private readonly StanGenerator _stan;
    private readonly HostSignOn _signOn;
    private readonly SemaphoreSlim _keyChangeGate = new(1, 1);
    private SessionMacKey? _sessionKey;
    private SessionMacKey? _previousSessionKey;
    private int _keyVersion;
    private int _signedOff;

    /// <summary>Creates the link (not yet connected). The link owns <paramref name="masterKey"/> and disposes it.</summary>
    public HostLink(TerminalOptions options, ISecurityProfile profile, SecretKey masterKey, StanGenerator stan, TimeProvider time, ILogger logger)
    {
        _options = options;
        _profile = profile;
        _masterKey = masterKey;
        _signOn = new HostSignOn(profile, masterKey, options.AtmId, logger);

        _stan = stan;
        _time = time;
        _logger = logger;
        _client = new Iso8583Client(new Iso8583ClientOptions
        {
            Spec = NetworkSpec.Messages,
            Host = options.Host.Address,
            Port = options.Host.Port,
            Tls = options.Host.Tls.CreateClientOptions(options.Host.Address, "Terminal:Host:Tls"),
            FailoverEndpoints = options.Host.FailoverChannelEndpoints("Terminal:Host:Tls"),
            TerminalId = options.AtmId,
            Stan = stan,
            RequestTimeout = options.HostTimeout,
            IdleEchoInterval = options.EchoInterval,
            SignOn = SignOnAsync,
            SignOff = SignOffAsync,
            TimeProvider = time,
            Logger = logger,
        });
        _client.Disconnected += _ => WarnIfSupersededRepeatedly();
    }

    /// <summary>How many closes in a row right after sign-on make the terminal say another device may hold its master key.</summary>
    internal const int SupersededWarningThreshold = 3;

    /// <summary>Raised after each successful sign-on with fresh session keys.</summary>
    public event Action? SignedOn;

    /// <summary>Whether the link is up and has session keys.</summary>
    public bool IsReady => _client.IsConnected && Volatile.Read(ref _sessionKey) is not null;

    /// <summary>The current session MAC key (null before the first key change).</summary>
    public SessionMacKey? SessionKey => Volatile.Read(ref _sessionKey);

    /// <summary>Whether the host acknowledged this terminal's 0800/002 sign-off (set when the link stops).</summary>
    public bool SignedOffAtHost => Volatile.Read(ref _signedOff) == 1;

    /// <summary>The host's version of the session keys in use (0 before the first key change).</summary>
    public int KeyVersion => Volatile.Read(ref _keyVersion);

    /// <summary>The current connection (its negotiated TLS session), or null while down.</summary>
    public Iso8583Connection? Connection => _client.Connection;

    /// <summary>The host endpoint the link is on (or dials next): <c>Terminal:Host</c> or one of its <c>Failover</c> entries.</summary>
    public Iso8583Endpoint CurrentEndpoint => _client.CurrentEndpoint;

    /// <summary>The terminal's STAN sequence toward the host.</summary>
    public StanGenerator Stan => _stan;

    /// <summary>Starts dialling; returns at once (the link connects and reconnects in the background).</summary>
    public Task StartAsync(CancellationToken cancellationToken) => _client.StartAsync(cancellationToken);

    /// <summary>Waits until the link is signed on with keys.</summary>
    public async Task WaitUntilReadyAsync(CancellationToken cancellationToken)
    {
        // The client offers a connection only after the sign-on hook (which installs the session key) succeeded.
        while (!IsReady)
        {
            await _client.WaitUntilConnectedAsync(cancellationToken);
            if (!IsReady)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(20), cancellationToken);
            }
        }
    }

    /// <summary>
    /// Sends a request MACed with the session key and returns the answer with its MAC checked.
    /// </summary>
    /// <exception cref="Iso8583ChannelException">Not connected, timed out, or the link broke: the outcome is unknown.</exception>
    /// <exception cref="InvalidOperationException">No session key yet.</exception>
    public async Task<HostAnswer> SendAsync(IsoMessage request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var key = SessionKey ?? throw new InvalidOperationException("The host link has no session key yet (not signed on).");
        MessageMac.Apply(request, key.Iso);
        var response = await _client.SendRequestAsync(request, cancellationToken);
        var verified = MessageMac.Verify(response, key.Iso) == MacCheckResult.Valid;
        if (!verified)
        {
            _logger.LogError("Host answer {Mti} stan {Stan} failed its MAC check: it is not acted on", response.Mti, response.Stan);
        }

        var mismatch = HostAnswer.FindMismatch(request, response);
        if (mismatch is not null)
        {
            _logger.LogError(
                "Security event: host answer {Mti} stan {Stan} differs from its request in field(s) {Fields} (replayed or misrouted): it is not acted on",
                response.Mti, response.Stan, mismatch);
        }

        return new HostAnswer(response, verified, mismatch);
    }

    /// <inheritdoc />
    public int NextStan() => _stan.Next();

    /// <inheritdoc />
    public async Task RekeyAsync(CancellationToken cancellationToken)
    {
        var connection = _client.Connection ?? throw new Iso8583ChannelException(ChannelErrorReason.NotConnected, "The host link is not connected; it re-keys when it reconnects.");
        _logger.LogWarning("Re-keying with the host: sign-on and key change on the open link");
        await SignOnAsync(connection, cancellationToken);
    }

    /// <summary>Builds a request with the fields every terminal message carries: 7, 11, 12, 13, 41.</summary>
    public IsoMessage NewRequest(string mti)
    {
        var now = _time.GetUtcNow();
        var message = new IsoMessage(NetworkSpec.Messages, mti)
        {
            Stan = _stan.Next(),
            TerminalId = _options.AtmId,
        };
        message.SetTransmissionDateTime(now);
        message.SetLocalDateTime(TimeZoneInfo.ConvertTime(now, TimeZoneInfo.Local).DateTime);
        return message;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _client.DisposeAsync();
        Interlocked.Exchange(ref _sessionKey, null)?.Dispose();
        Interlocked.Exchange(ref _previousSessionKey, null)?.Dispose();
        _signOn.Dispose();
        _keyChangeGate.Dispose();
        _masterKey.Dispose();
    }

    /// <summary>
    /// Sign-on (0800/001) and the authenticated key change (0800/101) on this connection (<see cref="HostSignOn"/>), then
    /// installs the fresh session key. A refused or unauthentic answer leaves the keys as they were.
    /// </summary>
    private async Task SignOnAsync(Iso8583Connection connection, CancellationToken cancellationToken)
    {
        await _keyChangeGate.WaitAsync(cancellationToken);
        try
        {
            var signedOn = await _signOn.RunAsync(NewRequest, connection.SendRequestAsync, KeyVersion, cancellationToken);

            // The replaced key stays alive for one more change: a request sent under it may still be
            // waiting for its answer (the host accepts it for its grace time).
            var replaced = Interlocked.Exchange(ref _sessionKey, signedOn.SessionKey);
            Interlocked.Exchange(ref _previousSessionKey, replaced)?.Dispose();
            Volatile.Write(ref _keyVersion, signedOn.KeyVersion);
            _logger.LogInformation(
                "Signed on to the host {Endpoint} as {AtmId}; session key version {Version}, MAC key KCV {Kcv}",
                _client.CurrentEndpoint, _options.AtmId, signedOn.KeyVersion, signedOn.MacKeyCheckValue);
        }
        finally
        {
            _keyChangeGate.Release();
        }

        SignedOn?.Invoke();
    }

    /// <summary>Longest the stop waits for the host's 0810 to the sign-off.</summary>
    private static readonly TimeSpan SignOffBound = TimeSpan.FromSeconds(5);

    /// <summary>
    /// 0800/002 when the link stops, MACed under the session key as the host requires of a sign-off; the host marks the
    /// ATM signed off and audits it. Its 0810 must verify under the same key. A failure is logged and the stop goes on.
    /// </summary>
    private async Task SignOffAsync(Iso8583Connection connection, CancellationToken cancellationToken)
    {
        if (SessionKey is not { } key)
        {
            return; // never signed on with keys: nothing to sign off
        }

        var signOff = NewRequest(Mti.NetworkManagementRequest);
        signOff.NetworkManagementCode = NetworkManagementCodes.SignOff;
        MessageMac.Apply(signOff, key.Iso);
        using var bound = new CancellationTokenSource(_options.HostTimeout < SignOffBound ? _options.HostTimeout : SignOffBound, _time);
        using var either = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, bound.Token);
        var answer = await connection.SendRequestAsync(signOff, either.Token);
        if (answer.ResponseCode != ResponseCodes.Approved)
        {
            _logger.LogWarning("The host refused the sign-off of {AtmId}: {Code} ({Description})", _options.AtmId, answer.ResponseCode, ResponseCodes.Describe(answer.ResponseCode));
            return;
        }

        if (MessageMac.Verify(answer, key.Iso) != MacCheckResult.Valid)
        {
            _logger.LogWarning("The host's answer to the sign-off of {AtmId} failed its MAC check: not counted as signed off", _options.AtmId);
            return;
        }

        Volatile.Write(ref _signedOff, 1);
        _logger.LogInformation("Signed off at the host {Endpoint} as {AtmId}", _client.CurrentEndpoint, _options.AtmId);
    }

    /// <summary>
    /// The host supersedes an ATM's older connection when the same ATM signs on again: closes right after sign-on, again
    /// and again, mean two devices hold this ATM's master key (issue 12 M1). The client backs off; this says why.
    /// </summary>
    private void WarnIfSupersededRepeatedly()
    {
        var closes = _client.ConsecutiveEarlyCloses;
        if (closes >= SupersededWarningThreshold)
        {
            _logger.LogWarning(
                "The host closed this ATM's connection right after sign-on {Count} times in a row: another device may hold this ATM's master key ({AtmId}); reconnecting with back-off",
                closes, _options.AtmId);
        }
    }

    /// <summary>Field 37: a retrieval reference unique per ATM and request (year digit, julian day, hour, STAN: 12 digits).</summary>
    public string NewRetrievalReference(int stan)
    {
        var now = _time.GetUtcNow();
        return string.Create(CultureInfo.InvariantCulture, $"{now.Year % 10}{now.DayOfYear:D3}{now:HH}{stan:D6}");
    }
}
