using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Security.Cryptography.X509Certificates;
using CardlessAtm.Iso8583;
using CardlessAtm.Iso8583.Channels;
using CardlessAtm.Network;
using CardlessAtm.Proxy.Routing;
using CardlessAtm.Qr.Payload;
using CardlessAtm.Security;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CardlessAtm.Proxy;

/// <summary>
/// The proxy between phones and ATMs (architecture step E). ATMs dial in to the ATM listener and sign on with their
/// id (0800, field 70 = 001, field 41); phones send 0200 requests to the phone listener and each is forwarded to the
/// ATM named in its field 41, with the proxy's own STAN in field 11 on the ATM leg, and the ATM's 0210 is relayed
/// back with the phone's STAN restored. Nothing else in a message is changed — field 127 and the phone's MAC inside it
/// pass through byte for byte. Requests that cannot be forwarded are answered at once: 92 for an ATM that never
/// signed on, 91 for one that is offline or busy; a forward without an answer within
/// <see cref="ProxyOptions.ForwardTimeout"/> is answered 91 and logged as outcome unknown. The proxy holds no money
/// state and no message keys. See docs/proxy.md.
/// </summary>
public sealed class ProxyServer : IAsyncDisposable
{
    private readonly ProxyOptions _options;
    private readonly ILogger _log;
    private readonly TimeProvider _time;
    private readonly AtmRegistry _registry;
    private readonly StanGenerator _stans = new();
    private readonly ConditionalWeakTable<Iso8583Connection, StrongBox<int>> _forwardsInFlight = [];
    private readonly ConditionalWeakTable<Iso8583Connection, StrongBox<int>> _phoneRequestCounts = [];
    private readonly List<X509Certificate2> _certificates = [];
    private readonly CancellationTokenSource _stopping = new();
    private readonly Iso8583Server _atmServer;
    private readonly Iso8583Server _phoneServer;
    private readonly AtmClientCertificateValidator? _atmIdentity;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ConditionalWeakTable<Iso8583Connection, FleetClaim> _fleetClaims = [];
    private NatsFleet? _fleet;
    private const long FleetConnection = 0; // the "phone connection" in the lines of a request that came over NATS
    private int _state; // 0 new, 1 started, 2 stopped
    private int _disposed;

    /// <summary>Creates a proxy; nothing listens until <see cref="StartAsync(CancellationToken)"/>.</summary>
    /// <param name="options">The settings; validated here.</param>
    /// <param name="loggerFactory">Where logs go (default: nowhere).</param>
    /// <param name="timeProvider">The clock for the forward timeout, echoes and idle timeouts (tests pass a FakeTimeProvider).</param>
    /// <param name="meterFactory">Creates the <c>CardlessAtm.Proxy</c> meter (default: a meter owned by this proxy).</param>
    /// <exception cref="ConfigurationException">A setting is invalid, or a TLS certificate cannot be loaded.</exception>
    public ProxyServer(ProxyOptions options, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null, IMeterFactory? meterFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ProxyOptionsValidator.ThrowIfInvalid(options);
        _options = options;
        loggerFactory ??= NullLoggerFactory.Instance;
        _loggerFactory = loggerFactory;
        _log = loggerFactory.CreateLogger<ProxyServer>();
        _time = timeProvider ?? TimeProvider.System;
        _registry = new AtmRegistry(options.MaxKnownAtms);
        try
        {
            var atm = options.Atm.Tls;
            _atmIdentity = atm.LoadClientAuthority("Proxy:Atm:Tls", _time, loggerFactory.CreateLogger("CardlessAtm.Proxy.AtmIdentity"));
            var atmTls = _atmIdentity is null
                ? Owned(atm, atm.CreateServerOptions("Proxy:Atm:Tls"))
                : _atmIdentity.ServerOptions(atm.ServerAuthentication?.ServerCertificate ?? Owned(atm.LoadServerCertificate("Proxy:Atm:Tls")));
            var phoneTls = Owned(options.Phone.Tls, options.Phone.Tls.CreateServerOptions("Proxy:Phone:Tls"));
            _atmServer = new Iso8583Server(new Iso8583ServerOptions
            {
                Spec = NetworkSpec.Messages,
                Address = options.Atm.BindAddress,
                Port = options.Atm.Port,
                MaxConnections = options.Atm.MaxConnections,
                MaxUnauthenticatedConnections = options.MaxAtmConnectionsBeforeSignOn,
                MaxConnectionsPerAddress = options.Atm.MaxConnectionsPerAddress,
                Tls = atmTls,
                HandshakeTimeout = options.HandshakeTimeout,
                RequestTimeout = options.ForwardTimeout,
                MaxUnansweredRequests = options.MaxUnansweredPerAtm + 1, // + the proxy's own echo test
                MaxConcurrentIncomingRequests = 4, // an ATM sends the proxy only sign-on, sign-off and echo
                RequestHandler = HandleAtmRequestAsync,
                UnmatchedResponseHandler = OnLateAtmAnswer,
                IdleEchoInterval = options.AtmEchoInterval,
                TimeProvider = _time,
                Logger = loggerFactory.CreateLogger("CardlessAtm.Proxy.AtmListener"),
            });
            _phoneServer = new Iso8583Server(new Iso8583ServerOptions
            {
                Spec = NetworkSpec.Messages,
                Address = options.Phone.BindAddress,
                Port = options.Phone.Port,
                MaxConnections = options.Phone.MaxConnections,
                MaxConnectionsPerAddress = options.Phone.MaxConnectionsPerAddress,
                Tls = phoneTls,
                HandshakeTimeout = options.HandshakeTimeout,
                MaxUnansweredRequests = 1, // the proxy never sends a phone a request
                MaxConcurrentIncomingRequests = options.MaxConcurrentRequestsPerPhoneConnection,
                RequestHandler = HandlePhoneRequestAsync,
                UnmatchedResponseHandler = OnPhoneResponse,
                ReceiveIdleTimeout = options.PhoneIdleTimeout,
                FirstMessageTimeout = options.PhoneFirstMessageTimeout,
                MaxConnectionLifetime = options.PhoneConnectionLifetime,
                DrainTimeout = options.ForwardTimeout, // a closing phone connection still gets the answers in flight
                TimeProvider = _time,
                Logger = loggerFactory.CreateLogger("CardlessAtm.Proxy.PhoneListener"),
            });
        }
        catch
        {
            DisposeCertificates();
            _atmIdentity?.Dispose();
            throw;
        }

        _atmServer.ConnectionOpened += OnAtmConnectionOpened;
        _atmServer.ConnectionClosed += OnAtmConnectionClosed;
        Metrics = new ProxyMetrics(meterFactory, () => _registry.OnlineCount, () => _registry.KnownCount);
        _atmServer.LimitEnforced += (limit, action) => Metrics.ConnectionLimited("atm", limit, action);
        _phoneServer.LimitEnforced += (limit, action) => Metrics.ConnectionLimited("phone", limit, action);
    }

    /// <summary>The proxy's metrics (meter <c>CardlessAtm.Proxy</c>).</summary>
    public ProxyMetrics Metrics { get; }

    /// <summary>Where ATMs connect (after start; the real port when 0 was configured).</summary>
    /// <exception cref="InvalidOperationException">Not started.</exception>
    public IPEndPoint AtmEndPoint => _atmServer.LocalEndPoint;

    /// <summary>Where phones connect (after start; the real port when 0 was configured).</summary>
    /// <exception cref="InvalidOperationException">Not started.</exception>
    public IPEndPoint PhoneEndPoint => _phoneServer.LocalEndPoint;

    /// <summary>ATM ids the proxy remembers (online or offline); at most <see cref="ProxyOptions.MaxKnownAtms"/>.</summary>
    public int KnownAtmCount => _registry.KnownCount;

    /// <summary>The ids of the ATMs signed on over a live connection, in order.</summary>
    public IReadOnlyCollection<string> OnlineAtms => _registry.OnlineIds;

    /// <summary>This proxy's id in its NATS fleet, or null when routing is Local (or not started).</summary>
    public string? FleetProxyId => _fleet?.ProxyId;

    /// <summary>The fleet membership, for tests (null when routing is Local).</summary>
    internal NatsFleet? Fleet => _fleet;

    /// <summary>Creates a proxy and starts it.</summary>
    /// <param name="options">The settings (ports 0 pick free ports; read them from <see cref="AtmEndPoint"/> and <see cref="PhoneEndPoint"/>).</param>
    /// <param name="loggerFactory">Where logs go.</param>
    /// <param name="timeProvider">The clock.</param>
    /// <param name="meterFactory">Creates the meter.</param>
    /// <param name="cancellationToken">Unused; for symmetry.</param>
    /// <returns>The listening proxy.</returns>
    /// <exception cref="ConfigurationException">A setting is invalid, a certificate cannot be loaded or a port is in use.</exception>
    public static async Task<ProxyServer> StartAsync(ProxyOptions options, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null, IMeterFactory? meterFactory = null, CancellationToken cancellationToken = default)
    {
        var proxy = new ProxyServer(options, loggerFactory, timeProvider, meterFactory);
        try
        {
            await proxy.StartAsync(cancellationToken);
            return proxy;
        }
        catch
        {
            await proxy.DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts both listeners.</summary>
    /// <param name="cancellationToken">Unused; for hosted-service symmetry.</param>
    /// <returns>A task that completes once both listen.</returns>
    /// <exception cref="ConfigurationException">A port is in use or the address cannot be bound.</exception>
    /// <exception cref="InvalidOperationException">Already started (a proxy starts once; create a new one to restart).</exception>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.CompareExchange(ref _state, 1, 0) != 0)
        {
            throw new InvalidOperationException("This proxy has already been started; create a new ProxyServer to start again.");
        }

        if (_options.Routing.IsNats)
        {
            // Before the listeners open: a proxy that cannot reach its fleet must not accept ATMs it cannot claim.
            _fleet = await NatsFleet.ConnectAsync(_options.Routing.Nats, _loggerFactory, _time, ServeFleetRequestAsync, OnFleetClaimLost, cancellationToken);
        }

        await Listen(_atmServer, "Proxy:Atm", _options.Atm, cancellationToken);
        await Listen(_phoneServer, "Proxy:Phone", _options.Phone, cancellationToken);
        ProxyLog.Listening(
            _log,
            AtmEndPoint.ToString(),
            _options.Atm.Tls.Enabled ? "TLS" : "plain TCP",
            PhoneEndPoint.ToString(),
            _options.Phone.Tls.Enabled ? "TLS" : "plain TCP");
        if (_atmIdentity is null)
        {
            ProxyLog.AtmPortInsecure(_log, AtmEndPoint.ToString(), _options.Atm.Tls.Enabled ? "TLS without ATM certificates" : "plain TCP");
        }

        if (!_options.Phone.Tls.Enabled)
        {
            ProxyLog.PhonePortInsecure(_log, PhoneEndPoint.ToString());
        }
    }

    /// <summary>
    /// Stops: first the phone listener (phones' requests in flight get their answers, up to the forward timeout;
    /// new ones are answered 91), then the ATM listener.
    /// </summary>
    /// <param name="cancellationToken">Cuts the wait for answers in flight short.</param>
    /// <returns>A task that completes when every connection is closed.</returns>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _state, 2) != 1)
        {
            return;
        }

        await _stopping.CancelAsync();
        await _phoneServer.StopAsync(cancellationToken);
        await _atmServer.StopAsync(cancellationToken);
        if (_fleet is not null)
        {
            await _fleet.DisposeAsync(); // releases the claims of the ATMs just disconnected
        }

        ProxyLog.Stopped(_log);
    }

    /// <summary>Stops as <see cref="StopAsync"/> does and releases the meter and certificates. Safe to call more than once.</summary>
    /// <returns>A task that completes when everything is released.</returns>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await StopAsync();
        await _phoneServer.DisposeAsync();
        await _atmServer.DisposeAsync();
        if (_fleet is not null)
        {
            await _fleet.DisposeAsync();
        }
        Metrics.Dispose();
        DisposeCertificates();
        _atmIdentity?.Dispose();
        _stopping.Dispose();
    }

    /// <summary>
    /// Dies the way a killed process does as far as the fleet can tell: the NATS connection is dropped without
    /// releasing this proxy's claims (they expire after <c>Proxy:Routing:Nats:OwnerTtl</c>), then the proxy is disposed.
    /// </summary>
    internal async Task CrashForTestsAsync()
    {
        if (_fleet is not null)
        {
            await _fleet.AbandonAsync();
        }

        await DisposeAsync();
    }

    /// <summary>Where <paramref name="atmId"/> stands: unknown (never signed on), online, or offline.</summary>
    /// <param name="atmId">The ATM id (field 41).</param>
    /// <returns>Its state.</returns>
    public AtmLinkState GetAtmState(string atmId)
    {
        ArgumentNullException.ThrowIfNull(atmId);
        return _registry.Find(atmId, out _);
    }

    /// <summary>Waits until <paramref name="atmId"/> is in <paramref name="state"/> (e.g. a terminal has signed on).</summary>
    /// <param name="atmId">The ATM id.</param>
    /// <param name="state">The state to wait for.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>A task that completes when the state is reached.</returns>
    public Task WaitForAtmStateAsync(string atmId, AtmLinkState state, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(atmId);
        return _registry.WaitForStateAsync(atmId, state, cancellationToken);
    }

    private static async Task Listen(Iso8583Server server, string section, ProxyListenerOptions listener, CancellationToken cancellationToken)
    {
        try
        {
            await server.StartAsync(cancellationToken);
        }
        catch (SocketException ex)
        {
            throw new ConfigurationException(
                $"{section}:Port",
                string.Create(CultureInfo.InvariantCulture, $"{section}: cannot listen on {listener.Address}:{listener.Port}: {ex.Message} (is another process using the port? 0 picks a free one)."),
                ex);
        }
    }

    private static string Text(IsoMessage message, int field) => message.GetString(field) ?? "-";

    private static string SessionOf(IsoMessage request)
    {
        // The session is the QR nonce; it is not secret (it is on the ATM's screen) and ties these lines to the terminal's and host's.
        var payload = request.SessionPayload;
        return payload is not null && QrPayloadFormat.Parse(payload) is { IsAccepted: true } parsed ? parsed.Payload.Nonce.ToString() : "-";
    }

    private static IsoMessage Answer(IsoMessage request, string responseCode) => NetworkFields.CreateResponse(request, responseCode);

    // The certificates loaded from the paths are the proxy's to dispose; ready-made ServerAuthentication stays the caller's.
    private SslServerAuthenticationOptions? Owned(TlsListenerOptions tls, SslServerAuthenticationOptions? loaded)
    {
        if (tls.ServerAuthentication is null && loaded?.ServerCertificate is X509Certificate2 certificate)
        {
            _certificates.Add(certificate);
        }

        return loaded;
    }

    private X509Certificate2 Owned(X509Certificate2 certificate)
    {
        _certificates.Add(certificate);
        return certificate;
    }

    private void DisposeCertificates()
    {
        foreach (var certificate in _certificates)
        {
            certificate.Dispose();
        }

        _certificates.Clear();
    }

    // ---- ATM side -------------------------------------------------------------------------------------------

    private ValueTask<IsoMessage?> HandleAtmRequestAsync(IsoMessage request, Iso8583Connection atm, CancellationToken cancellationToken)
    {
        var stan = Text(request, 11);
        var code = request.Mti == Mti.NetworkManagementRequest ? request.NetworkManagementCode : null;
        if (code is not (NetworkManagementCodes.SignOn or NetworkManagementCodes.SignOff))
        {
            ProxyLog.AtmUnsupported(_log, atm.Tag as string ?? Text(request, 41), request.Mti, code ?? "-", stan, atm.Id);
            return ValueTask.FromResult<IsoMessage?>(Answer(request, ResponseCodes.InvalidTransaction));
        }

        var terminal = request.TerminalId;
        if (!AtmId.TryParse(terminal, out var atmId))
        {
            ProxyLog.AtmSignOnBadId(_log, stan, atm.Id, atm.RemoteEndPoint, terminal is null ? "missing" : $"'{terminal}', not 8 characters A-Z 0-9");
            Metrics.SignOn(accepted: false);
            return ValueTask.FromResult<IsoMessage?>(Answer(request, ResponseCodes.FormatError));
        }

        var id = atmId.Value;
        if (code == NetworkManagementCodes.SignOff)
        {
            if (_registry.SignOff(id, atm))
            {
                ReleaseFleetClaim(atm);
                ProxyLog.AtmSignedOff(_log, id, stan, atm.Id);
                return ValueTask.FromResult<IsoMessage?>(Answer(request, ResponseCodes.Approved));
            }

            ProxyLog.AtmSignOffRefused(_log, id, stan, atm.Id);
            return ValueTask.FromResult<IsoMessage?>(Answer(request, ResponseCodes.InvalidTransaction));
        }

        if (_atmIdentity is not null && RefuseUncertified(request, atm, id, stan) is { } refusal)
        {
            return ValueTask.FromResult<IsoMessage?>(refusal);
        }

        switch (_registry.TrySignOn(id, atm, out var holder, out _))
        {
            case SignOnResult.Accepted when _fleet is not null && !_fleetClaims.TryGetValue(atm, out _):
                return ClaimInFleetAsync(_fleet, request, atm, id, stan);
            case SignOnResult.Accepted:
                return ValueTask.FromResult<IsoMessage?>(SignedOn(request, atm, id, stan));
            case SignOnResult.IdInUse:
                ProxyLog.AtmSignOnDuplicate(_log, id, stan, atm.Id, atm.RemoteEndPoint, holder!.Id, holder.RemoteEndPoint);
                Metrics.SignOn(accepted: false);
                _ = CloseAfterAnswerAsync(atm); // an impostor or a stale twin gets its answer, then the line is freed
                return ValueTask.FromResult<IsoMessage?>(Answer(request, ResponseCodes.DuplicateTransmission));
            default:
                ProxyLog.AtmSignOnOtherId(_log, id, stan, atm.Id, atm.RemoteEndPoint, atm.Tag as string ?? "-");
                Metrics.SignOn(accepted: false);
                return ValueTask.FromResult<IsoMessage?>(Answer(request, ResponseCodes.InvalidTransaction));
        }
    }

    private IsoMessage SignedOn(IsoMessage request, Iso8583Connection atm, string id, string stan)
    {
        atm.MarkAuthenticated(); // keeps its slot however many anonymous sockets arrive (see Proxy:MaxAtmConnectionsBeforeSignOn)
        ProxyLog.AtmSignedOn(_log, id, stan, atm.Id, atm.RemoteEndPoint);
        Metrics.SignOn(accepted: true);
        return Answer(request, ResponseCodes.Approved);
    }

    /// <summary>
    /// A sign-on that passed every local check (id, certificate, no live twin here) claims the id across the fleet,
    /// superseding another proxy's claim: the ATM chose to dial this proxy, and only it can pass the checks above.
    /// Without NATS the sign-on is refused (91) so that the ATM dials another proxy rather than be online twice.
    /// </summary>
    private async ValueTask<IsoMessage?> ClaimInFleetAsync(NatsFleet fleet, IsoMessage request, Iso8583Connection atm, string id, string stan)
    {
        var claim = await fleet.ClaimAsync(id, _stopping.Token);
        if (claim is null)
        {
            _registry.SignOff(id, atm);
            Metrics.SignOn(accepted: false);
            _ = CloseAfterAnswerAsync(atm);
            return Answer(request, ResponseCodes.IssuerUnavailable);
        }

        _fleetClaims.AddOrUpdate(atm, claim);
        if (_registry.Find(id, out var holder) != AtmLinkState.Online || !ReferenceEquals(holder, atm))
        {
            // The connection closed while the claim was written; its closed callback may have missed the claim.
            ReleaseFleetClaim(atm);
            return Answer(request, ResponseCodes.IssuerUnavailable);
        }

        return SignedOn(request, atm, id, stan);
    }

    private void ReleaseFleetClaim(Iso8583Connection atm)
    {
        if (_fleet is not null && _fleetClaims.TryGetValue(atm, out var claim) && _fleetClaims.Remove(atm))
        {
            _ = _fleet.ReleaseAsync(claim);
        }
    }

    /// <summary>Another proxy claimed an ATM this proxy holds: the ATM signed on there, so this link is stale; close it.</summary>
    private void OnFleetClaimLost(FleetClaim claim)
    {
        if (_registry.Find(claim.AtmId, out var atm) != AtmLinkState.Unknown && atm is not null
            && _fleetClaims.TryGetValue(atm, out var held) && ReferenceEquals(held, claim))
        {
            _fleetClaims.Remove(atm);
            _ = CloseAfterAnswerAsync(atm);
        }
    }

    /// <summary>
    /// The identity check of a sign-on: field 41 must be the ATM id of the connection's certificate, and the certificate
    /// must still pass (the deny list may have changed since the handshake). A refusal changes no registry entry; the
    /// connection gets its 63 and is closed.
    /// </summary>
    private IsoMessage? RefuseUncertified(IsoMessage request, Iso8583Connection atm, string id, string stan)
    {
        var check = _atmIdentity!.Check(atm.RemoteCertificate);
        if (check.Accepted && string.Equals(check.AtmId, id, StringComparison.Ordinal))
        {
            return null;
        }

        var problem = check.Accepted ? "the certificate names another ATM" : "the certificate no longer passes: " + check.Problem;
        ProxyLog.AtmSignOnNotCertified(_log, id, check.AtmId ?? "-", stan, atm.Id, atm.RemoteEndPoint, check.Subject, check.Serial, problem);
        Metrics.SignOn(accepted: false);
        _ = CloseAfterAnswerAsync(atm);
        return Answer(request, ResponseCodes.SecurityViolation);
    }

    private void OnAtmConnectionOpened(Iso8583Connection atm) => _ = CloseUnlessSignedOnAsync(atm);

    private async Task CloseUnlessSignedOnAsync(Iso8583Connection atm)
    {
        try
        {
            await Task.Delay(_options.AtmSignOnTimeout, _time, _stopping.Token);
            if (atm.Tag is null && atm.State != ConnectionState.Closed)
            {
                ProxyLog.AtmNoSignOn(_log, atm.Id, atm.RemoteEndPoint, _options.AtmSignOnTimeout.TotalSeconds);
                await atm.CloseAsync(CancellationToken.None);
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            // The proxy is stopping and closes every connection itself.
        }
        catch (Exception ex)
        {
            _log.LogDebug(ex, "Closing connection {Connection} without a sign-on failed.", atm.Id);
        }
    }

    private void OnAtmConnectionClosed(Iso8583Connection atm)
    {
        ReleaseFleetClaim(atm);
        if (_registry.Release(atm) is { } atmId)
        {
            ProxyLog.AtmDisconnected(_log, atmId, atm.Id, atm.RemoteEndPoint);
        }
    }

    private void OnLateAtmAnswer(IsoMessage response, Iso8583Connection atm)
    {
        ProxyLog.LateAnswer(_log, atm.Tag as string ?? Text(response, 41), Text(response, 11), Text(response, 39));
        Metrics.LateAnswer();
    }

    // ---- Phone side -----------------------------------------------------------------------------------------

    private void OnPhoneResponse(IsoMessage response, Iso8583Connection phone) =>
        ProxyLog.PhoneRejected(_log, phone.Id, phone.RemoteEndPoint, response.Mti, Text(response, 11), Text(response, 41), "a response, but the proxy sent no request", "nothing");

    private async ValueTask<IsoMessage?> HandlePhoneRequestAsync(IsoMessage request, Iso8583Connection phone, CancellationToken cancellationToken)
    {
        var received = _time.GetTimestamp();
        var phoneStan = Text(request, 11);
        var terminal = Text(request, 41);
        var count = Interlocked.Increment(ref _phoneRequestCounts.GetValue(phone, static _ => new StrongBox<int>()).Value);
        var limit = _options.MaxRequestsPerPhoneConnection;
        if (count > limit)
        {
            ProxyLog.PhoneOverLimit(_log, phone.Id, phone.RemoteEndPoint, count, phoneStan, terminal, limit);
            Metrics.Request(ForwardOutcomes.LimitExceeded, ResponseCodes.IssuerUnavailable);
            return Answer(request, ResponseCodes.IssuerUnavailable);
        }

        if (count == limit)
        {
            ProxyLog.PhoneLimitReached(_log, phone.Id, phone.RemoteEndPoint, limit);
            _ = CloseAfterAnswerAsync(phone);
        }

        if (request.Mti != Mti.FinancialRequest)
        {
            return Reject(request, phone, phoneStan, terminal, "only 0200 withdrawal requests are accepted from phones", ResponseCodes.InvalidTransaction);
        }

        if (!request.Has(NetworkFields.Stan))
        {
            return Reject(request, phone, phoneStan, terminal, "field 11 (STAN) is missing", ResponseCodes.FormatError);
        }

        if (!AtmId.TryParse(request.TerminalId, out var atmId))
        {
            return Reject(request, phone, phoneStan, terminal, "field 41 is not an ATM id (8 characters A-Z 0-9)", ResponseCodes.FormatError);
        }

        var id = atmId.Value;
        var session = SessionOf(request);
        var state = _registry.Find(id, out var atm);
        if (state != AtmLinkState.Online && _fleet is not null)
        {
            return await ForwardToFleetAsync(_fleet, request, phone, phoneStan, id, session, received, cancellationToken);
        }

        switch (state)
        {
            case AtmLinkState.Unknown:
                return NotForwarded(request, phone, phoneStan, id, session, ForwardOutcomes.UnknownAtm, ResponseCodes.RoutingError, "the ATM has never signed on to this proxy");
            case AtmLinkState.Offline:
                return NotForwarded(request, phone, phoneStan, id, session, ForwardOutcomes.AtmOffline, ResponseCodes.IssuerUnavailable, "the ATM is signed off or disconnected");
        }

        var load = _forwardsInFlight.GetValue(atm!, static _ => new StrongBox<int>());
        if (Interlocked.Increment(ref load.Value) > _options.MaxUnansweredPerAtm)
        {
            Interlocked.Decrement(ref load.Value);
            return NotForwarded(request, phone, phoneStan, id, session, ForwardOutcomes.AtmBusy, ResponseCodes.IssuerUnavailable,
                string.Create(CultureInfo.InvariantCulture, $"the ATM already has {_options.MaxUnansweredPerAtm} unanswered requests"));
        }

        try
        {
            return await ForwardAsync(request, phone.Id, atm!, id, session, received, cancellationToken);
        }
        finally
        {
            Interlocked.Decrement(ref load.Value);
        }
    }

    private async Task<IsoMessage> ForwardAsync(IsoMessage request, long phoneConnection, Iso8583Connection atm, string atmId, string session, long received, CancellationToken cancellationToken)
    {
        var phoneStanBytes = request.GetBytes(NetworkFields.Stan)!; // checked present before routing
        var phoneStan = Text(request, 11);
        var forward = request.Clone();
        var proxyStan = "-";
        IsoMessage response;
        string outcome;
        string code;
        string reason;
        try
        {
            for (var attempt = 1; ; attempt++)
            {
                var stan = _stans.Next();
                forward.Stan = stan;
                proxyStan = stan.ToString("D6", CultureInfo.InvariantCulture);
                ProxyLog.Forwarding(_log, phoneStan, atmId, session, phoneConnection, proxyStan);
                try
                {
                    response = await atm.SendRequestAsync(forward, cancellationToken);
                    break;
                }
                catch (Iso8583ChannelException ex) when (ex.Reason == ChannelErrorReason.DuplicateMatchKey && attempt < 3)
                {
                    // Our STAN wrapped onto one still awaiting an answer (a million forwards ago): take the next.
                }
            }

            response.SetBytes(NetworkFields.Stan, phoneStanBytes);
            var responseCode = response.ResponseCode ?? "-";
            var elapsed = _time.GetElapsedTime(received);
            ProxyLog.Answered(_log, phoneStan, atmId, session, proxyStan, responseCode, elapsed.TotalMilliseconds);
            Metrics.Request(ForwardOutcomes.Answered, responseCode);
            Metrics.Forwarded(ForwardOutcomes.Answered, elapsed);
            return response;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            var elapsed = _time.GetElapsedTime(received);
            ProxyLog.OutcomeUnknown(_log, phoneStan, atmId, session, proxyStan, elapsed.TotalMilliseconds, "the phone's connection closed while the ATM was working", "nothing");
            Metrics.Request(ForwardOutcomes.PhoneGone, "-");
            Metrics.Forwarded(ForwardOutcomes.PhoneGone, elapsed);
            throw;
        }
        catch (Iso8583ChannelException ex)
        {
            (outcome, code, reason) = ex.Reason switch
            {
                ChannelErrorReason.Timeout => (ForwardOutcomes.Timeout, ResponseCodes.IssuerUnavailable,
                    string.Create(CultureInfo.InvariantCulture, $"no answer from the ATM within {_options.ForwardTimeout.TotalSeconds:0.###} s")),
                ChannelErrorReason.MalformedResponse => (ForwardOutcomes.MalformedAnswer, ResponseCodes.SystemMalfunction, "the ATM's answer could not be unpacked: " + ex.Message),
                _ => (ForwardOutcomes.AtmDisconnected, ResponseCodes.IssuerUnavailable, "the ATM's connection closed before it answered"),
            };
        }

        var failedAfter = _time.GetElapsedTime(received);
        ProxyLog.OutcomeUnknown(_log, phoneStan, atmId, session, proxyStan, failedAfter.TotalMilliseconds, reason, code);
        Metrics.Request(outcome, code);
        Metrics.Forwarded(outcome, failedAfter);
        return Answer(request, code);
    }

    // ---- Fleet (Proxy:Routing:Kind = Nats) -------------------------------------------------------------------

    /// <summary>
    /// A phone's request for an ATM not signed on here goes to the proxy that holds it, over NATS, with the forward
    /// timeout as the request timeout; the owning proxy's answer is relayed as it came. An ATM held nowhere gets 91
    /// at once, as an offline ATM does at a single proxy.
    /// </summary>
    private async Task<IsoMessage> ForwardToFleetAsync(NatsFleet fleet, IsoMessage request, Iso8583Connection phone, string phoneStan, string atmId, string session, long received, CancellationToken cancellationToken)
    {
        ProxyLog.FleetForwarding(_log, phoneStan, atmId, session, phone.Id);
        var reply = await fleet.RequestAsync(atmId, request.Pack(), _options.ForwardTimeout, cancellationToken);
        var elapsed = _time.GetElapsedTime(received);
        switch (reply.Outcome)
        {
            case FleetRequestOutcome.Nowhere:
                return NotForwarded(request, phone, phoneStan, atmId, session, ForwardOutcomes.AtmOffline, ResponseCodes.IssuerUnavailable, "the ATM is signed on to no proxy of the fleet");
            case FleetRequestOutcome.Answered when IsoMessage.TryUnpack(reply.Answer, NetworkSpec.Messages, out var response, out _)
                && response.Mti == Mti.FinancialResponse && response.Stan == request.Stan && string.Equals(response.TerminalId, atmId, StringComparison.Ordinal):
                var responseCode = response.ResponseCode ?? "-";
                ProxyLog.FleetAnswered(_log, phoneStan, atmId, session, responseCode, elapsed.TotalMilliseconds);
                Metrics.Request(ForwardOutcomes.Answered, responseCode);
                Metrics.Forwarded(ForwardOutcomes.Answered, elapsed);
                return response;
        }

        var (outcome, code, reason) = reply.Outcome switch
        {
            FleetRequestOutcome.Timeout => (ForwardOutcomes.Timeout, ResponseCodes.IssuerUnavailable,
                string.Create(CultureInfo.InvariantCulture, $"no answer through the fleet within {_options.ForwardTimeout.TotalSeconds:0.###} s")),
            FleetRequestOutcome.Answered => (ForwardOutcomes.MalformedAnswer, ResponseCodes.SystemMalfunction, "the owning proxy's answer is not a 0210 for this request"),
            _ => (ForwardOutcomes.AtmDisconnected, ResponseCodes.IssuerUnavailable, "NATS is unavailable: " + reply.Problem),
        };
        ProxyLog.OutcomeUnknown(_log, phoneStan, atmId, session, "-", elapsed.TotalMilliseconds, reason, code);
        Metrics.Request(outcome, code);
        Metrics.Forwarded(outcome, elapsed);
        return Answer(request, code);
    }

    /// <summary>
    /// A request from another proxy for an ATM held here. Another proxy is trusted no more than a phone: the bytes go
    /// through the phone port's checks (a 0200 with a STAN, field 41 the ATM of the subject), the per-ATM limit and the
    /// same forward, so nothing reaches an ATM over NATS that it would not get from a phone at this proxy. No answer
    /// (null) when the ATM is no longer online here: during a takeover another proxy may hold it and answer.
    /// </summary>
    private async Task<byte[]?> ServeFleetRequestAsync(string atmId, byte[] packed, CancellationToken cancellationToken)
    {
        var received = _time.GetTimestamp();
        if (!IsoMessage.TryUnpack(packed, NetworkSpec.Messages, out var request, out _))
        {
            ProxyLog.FleetRequestRefused(_log, atmId, "the bytes are not an ISO 8583 message", "nothing");
            return null;
        }

        string? refusal = null;
        var code = ResponseCodes.InvalidTransaction;
        if (request.Mti != Mti.FinancialRequest)
        {
            refusal = "only 0200 withdrawal requests are forwarded";
        }
        else if (!request.Has(NetworkFields.Stan))
        {
            (refusal, code) = ("field 11 (STAN) is missing", ResponseCodes.FormatError);
        }
        else if (!string.Equals(request.TerminalId, atmId, StringComparison.Ordinal))
        {
            (refusal, code) = ("field 41 names another ATM than the subject", ResponseCodes.FormatError);
        }

        if (refusal is not null)
        {
            ProxyLog.FleetRequestRefused(_log, atmId, refusal, code);
            Metrics.Request(ForwardOutcomes.Rejected, code);
            return Answer(request, code).Pack();
        }

        if (_registry.Find(atmId, out var atm) != AtmLinkState.Online)
        {
            return null;
        }

        var phoneStan = Text(request, 11);
        var session = SessionOf(request);
        var load = _forwardsInFlight.GetValue(atm!, static _ => new StrongBox<int>());
        if (Interlocked.Increment(ref load.Value) > _options.MaxUnansweredPerAtm)
        {
            Interlocked.Decrement(ref load.Value);
            ProxyLog.NotForwarded(_log, phoneStan, atmId, session, FleetConnection, ResponseCodes.IssuerUnavailable,
                string.Create(CultureInfo.InvariantCulture, $"the ATM already has {_options.MaxUnansweredPerAtm} unanswered requests"));
            Metrics.Request(ForwardOutcomes.AtmBusy, ResponseCodes.IssuerUnavailable);
            return Answer(request, ResponseCodes.IssuerUnavailable).Pack();
        }

        try
        {
            return (await ForwardAsync(request, FleetConnection, atm!, atmId, session, received, cancellationToken)).Pack();
        }
        finally
        {
            Interlocked.Decrement(ref load.Value);
        }
    }

    private IsoMessage Reject(IsoMessage request, Iso8583Connection phone, string phoneStan, string terminal, string reason, string code)
    {
        ProxyLog.PhoneRejected(_log, phone.Id, phone.RemoteEndPoint, request.Mti, phoneStan, terminal, reason, code);
        Metrics.Request(ForwardOutcomes.Rejected, code);
        return Answer(request, code);
    }

    private IsoMessage NotForwarded(IsoMessage request, Iso8583Connection phone, string phoneStan, string atmId, string session, string outcome, string code, string reason)
    {
        ProxyLog.NotForwarded(_log, phoneStan, atmId, session, phone.Id, code, reason);
        Metrics.Request(outcome, code);
        return Answer(request, code);
    }

    /// <summary>Closes a connection once the handler that decided so has answered (the close drains in-flight requests first).</summary>
    private async Task CloseAfterAnswerAsync(Iso8583Connection connection)
    {
        try
        {
            await connection.CloseAsync(CancellationToken.None);
        }
        catch (Exception ex)
        {
            _log.LogDebug(ex, "Closing connection {Connection} failed.", connection.Id);
        }
    }
}
