using CardlessAtm.Iso8583;
using CardlessAtm.Iso8583.Channels;
using CardlessAtm.Network;
using Microsoft.Extensions.Logging;

namespace CardlessAtm.Terminal.Links;

/// <summary>
/// The terminal's persistent link to the proxy: dials out (so an ATM behind NAT is reachable), signs on
/// with its ATM id so the proxy routes phones' requests for that id here, answers echo tests, reconnects
/// with backoff. Each forwarded 0200 is handed to the withdrawal flow, whose answer goes back.
/// </summary>
public sealed class ProxyLink : IAsyncDisposable
{
    private readonly Iso8583Client _client;
    private readonly TerminalOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    /// <summary>Creates the link; <paramref name="onForwardedRequest"/> answers each forwarded request.</summary>
    public ProxyLink(TerminalOptions options, Func<IsoMessage, CancellationToken, ValueTask<IsoMessage>> onForwardedRequest, TimeProvider time, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(onForwardedRequest);
        _options = options;
        _time = time;
        _logger = logger;
        _client = new Iso8583Client(new Iso8583ClientOptions
        {
            Spec = NetworkSpec.Messages,
            Host = options.Proxy.Address,
            Port = options.Proxy.Port,
            Tls = options.Proxy.Tls.CreateClientOptions(options.Proxy.Address, "Terminal:Proxy:Tls"),
            FailoverEndpoints = options.Proxy.FailoverChannelEndpoints("Terminal:Proxy:Tls"),
            TerminalId = options.AtmId,
            IdleEchoInterval = options.EchoInterval,
            SignOn = SignOnAsync,
            TimeProvider = time,
            Logger = logger,
            RequestHandler = async (request, _, cancellationToken) =>
                request.Mti == Mti.FinancialRequest
                    ? await onForwardedRequest(request, cancellationToken)
                    : NetworkFields.CreateResponse(request, ResponseCodes.InvalidTransaction),
        });
    }

    /// <summary>Whether the link is up.</summary>
    public bool IsConnected => _client.IsConnected;

    /// <summary>The current connection (its negotiated TLS session), or null while down.</summary>
    public Iso8583Connection? Connection => _client.Connection;

    /// <summary>The proxy endpoint the link is on (or dials next): <c>Terminal:Proxy</c> or one of its <c>Failover</c> entries.</summary>
    public Iso8583Endpoint CurrentEndpoint => _client.CurrentEndpoint;

    /// <summary>Starts dialling; returns at once.</summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (!_options.Proxy.Tls.HasClientCertificate)
        {
            _logger.LogWarning(
                "INSECURE: the proxy link to {Endpoint} runs {Transport} without an ATM client certificate (Terminal:Proxy:Insecure = true); a proxy that checks ATM identity refuses it, one that does not lets anyone sign on as {AtmId}. Set Terminal:Proxy:Tls (ServerPin, ClientCertificatePath, ClientPrivateKeyPath) outside a lab.",
                _options.Proxy,
                _options.Proxy.Tls.Enabled ? "TLS" : "plain TCP",
                _options.AtmId);
        }

        return _client.StartAsync(cancellationToken);
    }

    /// <summary>Waits until the proxy accepted the sign-on.</summary>
    public Task WaitUntilConnectedAsync(CancellationToken cancellationToken) => _client.WaitUntilConnectedAsync(cancellationToken);

    /// <inheritdoc />
    public ValueTask DisposeAsync() => _client.DisposeAsync();

    private async Task SignOnAsync(Iso8583Connection connection, CancellationToken cancellationToken)
    {
        var signOn = new IsoMessage(NetworkSpec.Messages, Mti.NetworkManagementRequest) { TerminalId = _options.AtmId };
        signOn.SetTransmissionDateTime(_time.GetUtcNow());
        signOn.Stan = Random.Shared.Next(1, 999_999);
        signOn.NetworkManagementCode = NetworkManagementCodes.SignOn;
        var answer = await connection.SendRequestAsync(signOn, cancellationToken);
        if (answer.ResponseCode != ResponseCodes.Approved)
        {
            throw new InvalidOperationException($"The proxy refused sign-on of {_options.AtmId}: {answer.ResponseCode} ({ResponseCodes.Describe(answer.ResponseCode)}).");
        }

        _logger.LogInformation("Signed on to the proxy {Endpoint} as {AtmId}", _client.CurrentEndpoint, _options.AtmId);
    }
}
