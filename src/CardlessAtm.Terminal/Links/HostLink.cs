using System.Globalization;
using CardlessAtm.Iso8583;
using CardlessAtm.Iso8583.Channels;
using CardlessAtm.Iso8583.Mac;
using CardlessAtm.Network;
using CardlessAtm.Security;
using Microsoft.Extensions.Logging;

namespace CardlessAtm.Terminal.Links;

/// <summary>The host's answer to a request, with whether its MAC verified.</summary>
/// <param name="Response">The response message.</param>
/// <param name="MacVerified">Whether the host's MAC verified under the current session key.</param>
public sealed record HostAnswer(IsoMessage Response, bool MacVerified)
{
    /// <summary>The response code (field 39), or null.</summary>
    public string? ResponseCode => Response.ResponseCode;

    /// <summary>An approval the terminal may act on: code 00 and a MAC that verifies.</summary>
    public bool IsAuthenticApproval => MacVerified && ResponseCode == ResponseCodes.Approved;
}

/// <summary>
/// The terminal's persistent link to the host: dials out, signs on (0800/001), obtains fresh session keys
/// (0800/101, opened under the terminal master key and checked against their KCVs), keeps the link alive
/// with echo tests and reconnects with backoff. Every financial message is MACed with the session key and
/// every answer's MAC is verified.
/// </summary>
public sealed class HostLink : IAsyncDisposable
{
    private readonly TerminalOptions _options;
    private readonly ISecurityProfile _profile;
    private readonly SecretKey _masterKey;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Iso8583Client _client;
    private readonly StanGenerator _stan;
    private SessionMacKey? _sessionKey;

    /// <summary>Creates the link (not yet connected). The link owns <paramref name="masterKey"/> and disposes it.</summary>
    public HostLink(TerminalOptions options, ISecurityProfile profile, SecretKey masterKey, StanGenerator stan, TimeProvider time, ILogger logger)
    {
        _options = options;
        _profile = profile;
        _masterKey = masterKey;
        _stan = stan;
        _time = time;
        _logger = logger;
        _client = new Iso8583Client(new Iso8583ClientOptions
        {
            Host = options.Host.Address,
            Port = options.Host.Port,
            Tls = options.Host.Tls.CreateClientOptions(options.Host.Address),
            TerminalId = options.AtmId,
            Stan = stan,
            RequestTimeout = options.HostTimeout,
            IdleEchoInterval = options.EchoInterval,
            SignOn = SignOnAsync,
            TimeProvider = time,
            Logger = logger,
        });
    }

    /// <summary>Raised after each successful sign-on with fresh session keys.</summary>
    public event Action? SignedOn;

    /// <summary>Whether the link is up and has session keys.</summary>
    public bool IsReady => _client.IsConnected && Volatile.Read(ref _sessionKey) is not null;

    /// <summary>The current session MAC key (null before the first key change).</summary>
    public SessionMacKey? SessionKey => Volatile.Read(ref _sessionKey);

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

        return new HostAnswer(response, verified);
    }

    /// <summary>Builds a request with the fields every terminal message carries: 7, 11, 12, 13, 41.</summary>
    public IsoMessage NewRequest(string mti)
    {
        var now = _time.GetUtcNow();
        var message = new IsoMessage(mti)
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
        _masterKey.Dispose();
    }

    private async Task SignOnAsync(Iso8583Connection connection, CancellationToken cancellationToken)
    {
        var signOn = NewRequest(Mti.NetworkManagementRequest);
        signOn.NetworkManagementCode = NetworkManagementCodes.SignOn;
        var answer = await connection.SendRequestAsync(signOn, cancellationToken);
        if (answer.ResponseCode != ResponseCodes.Approved)
        {
            throw new InvalidOperationException($"The host refused sign-on of {_options.AtmId}: {answer.ResponseCode} ({ResponseCodes.Describe(answer.ResponseCode)}).");
        }

        var keyChange = NewRequest(Mti.NetworkManagementRequest);
        keyChange.NetworkManagementCode = NetworkManagementCodes.KeyChange;
        var keys = await connection.SendRequestAsync(keyChange, cancellationToken);
        if (keys.ResponseCode != ResponseCodes.Approved || keys.KeyChangeData is not { } data)
        {
            throw new InvalidOperationException($"The host refused the key change for {_options.AtmId}: {keys.ResponseCode} ({ResponseCodes.Describe(keys.ResponseCode)}).");
        }

        // OpenKeyChangeData checks every key against its KCV before we use it.
        using var sessionKeys = _profile.OpenKeyChangeData(_masterKey, data);
        var fresh = SessionMacKey.Create(_profile, sessionKeys.MacKey);
        Interlocked.Exchange(ref _sessionKey, fresh)?.Dispose();
        _logger.LogInformation(
            "Signed on to the host {Endpoint} as {AtmId}; session MAC key KCV {Kcv}",
            _options.Host, _options.AtmId, sessionKeys.MacKey.CheckValue.ToString());
        SignedOn?.Invoke();
    }

    /// <summary>Field 37: a retrieval reference unique per ATM and request (year digit, julian day, hour, STAN: 12 digits).</summary>
    public string NewRetrievalReference(int stan)
    {
        var now = _time.GetUtcNow();
        return string.Create(CultureInfo.InvariantCulture, $"{now.Year % 10}{now.DayOfYear:D3}{now:HH}{stan:D6}");
    }
}
