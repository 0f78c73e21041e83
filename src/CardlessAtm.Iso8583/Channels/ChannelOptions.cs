using System.Net;
using System.Net.Security;
using CardlessAtm.Iso8583.Mac;
using CardlessAtm.Iso8583.Spec;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CardlessAtm.Iso8583.Channels;

/// <summary>Computes the key that pairs a response with its request; equal keys match.</summary>
/// <param name="message">A request or a response.</param>
/// <returns>The key.</returns>
public delegate string MatchKeySelector(IsoMessage message);

/// <summary>
/// Answers a request (or advice) that arrived on a connection. Return the response, or null to send none.
/// An exception is logged and answered with response code 96.
/// </summary>
/// <param name="request">The request.</param>
/// <param name="connection">The connection it arrived on (e.g. to learn the peer).</param>
/// <param name="cancellationToken">Cancelled when the connection is torn down.</param>
/// <returns>The response, or null.</returns>
public delegate ValueTask<IsoMessage?> Iso8583RequestHandler(IsoMessage request, Iso8583Connection connection, CancellationToken cancellationToken);

/// <summary>Receives a response that matched no waiting request (it came after its request timed out, or was never asked for).</summary>
/// <param name="response">The response.</param>
/// <param name="connection">The connection it arrived on.</param>
public delegate void UnmatchedResponseHandler(IsoMessage response, Iso8583Connection connection);

/// <summary>Match keys.</summary>
public static class MatchKeys
{
    /// <summary>
    /// The default: MTI version and class (so 0200 pairs with 0210, 0420/0421 with 0430, 0800 with 0810),
    /// field 11 and field 41.
    /// </summary>
    /// <param name="message">The message.</param>
    /// <returns>The key, e.g. <c>02|000123|ATM00001</c>.</returns>
    public static string ClassStanTerminal(IsoMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        var mti = message.Mti;
        message.TryGetValue(11, out var stan);
        message.TryGetValue(41, out var terminal);
        return string.Create(3 + stan.Length + 1 + terminal.Length, (mti, message), static (span, state) =>
        {
            state.mti.AsSpan(0, 2).CopyTo(span);
            span[2] = '|';
            state.message.TryGetValue(11, out var s);
            state.message.TryGetValue(41, out var t);
            for (var i = 0; i < s.Length; i++)
            {
                span[3 + i] = (char)s[i];
            }

            span[3 + s.Length] = '|';
            for (var i = 0; i < t.Length; i++)
            {
                span[4 + s.Length + i] = (char)t[i];
            }
        });
    }
}

/// <summary>Settings shared by client and server connections. Validated when a client or server is created.</summary>
public class Iso8583ConnectionOptions
{
    /// <summary>The message spec of the network the channel carries.</summary>
    public required MessageSpec Spec { get; set; }

    /// <summary>The framing (default: 2-byte binary length, 8 KiB maximum).</summary>
    public FrameFormat Framing { get; set; } = FrameFormat.Default;

    /// <summary>The TPDU sent on requests when the framing carries one (responses use the request's TPDU swapped).</summary>
    public Tpdu? RequestTpdu { get; set; }

    /// <summary>
    /// The fields an automatic response (refused while not open, no request handler) copies from its request;
    /// default: 3, 4, 7, 11, 12, 13, 37, 41, 49, 70, 90 and 95, the fields ISO 8583:1987 responses echo.
    /// </summary>
    public IReadOnlyList<int> EchoedFields { get; set; } = [3, 4, 7, 11, 12, 13, 37, 41, 49, 70, 90, 95];

    /// <summary>How responses are paired with requests (default: MTI class + field 11 + field 41).</summary>
    public MatchKeySelector MatchKey { get; set; } = MatchKeys.ClassStanTerminal;

    /// <summary>How long a request waits for its response (default 30 s).</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Most requests this side may have sent and not yet had answered; more wait for a slot (default 256).</summary>
    public int MaxUnansweredRequests { get; set; } = 256;

    /// <summary>Most requests from the peer being handled at once; past this the connection stops reading (default 256).</summary>
    public int MaxConcurrentIncomingRequests { get; set; } = 256;

    /// <summary>Answers requests from the peer; null answers every request except echo with 12 (invalid transaction).</summary>
    public Iso8583RequestHandler? RequestHandler { get; set; }

    /// <summary>Receives late or unmatched responses; when null they are logged and dropped.</summary>
    public UnmatchedResponseHandler? UnmatchedResponseHandler { get; set; }

    /// <summary>When true (default) an 0800 echo test (70 = 301) is answered 0810/00 by the connection itself.</summary>
    public bool AnswerEchoTests { get; set; } = true;

    /// <summary>
    /// Tells a request that proves who the peer is (e.g. a MACed sign-on). On a connection not yet authenticated, such
    /// a request takes the connection's one shield (<see cref="Iso8583Connection.TryBeginAuthenticating"/>) the moment
    /// it is read, before it waits for a handler, so a flood of newcomers cannot evict it while it is queued or being
    /// checked; the shield ends when its handler returns. Null: no request is shielded by the channel.
    /// </summary>
    public Func<IsoMessage, bool>? IsAuthenticationAttempt { get; set; }

    /// <summary>
    /// When set, an echo test is sent after this long without receiving anything; a failed echo closes the
    /// connection (a client then reconnects). Null (default) disables it.
    /// </summary>
    public TimeSpan? IdleEchoInterval { get; set; }

    /// <summary>Builds the echo request; default: 0800 with 7, 11 (from <see cref="Stan"/>), 41 (<see cref="TerminalId"/>) and 70 = 301.</summary>
    public Func<IsoMessage>? EchoRequestFactory { get; set; }

    /// <summary>
    /// When set, the connection is closed after this long without receiving a message (a peer that went silent).
    /// Zero-length keep-alive frames are not messages: they do not reset this timer.
    /// </summary>
    public TimeSpan? ReceiveIdleTimeout { get; set; }

    /// <summary>
    /// When set, the connection is closed if no complete message has arrived this long after it opened (after TLS), so
    /// a peer that sends nothing, or a frame a byte at a time, cannot hold a slot. Null (default) disables it.
    /// </summary>
    public TimeSpan? FirstMessageTimeout { get; set; }

    /// <summary>
    /// When set, the connection is closed gracefully (requests in flight are answered, up to <see cref="DrainTimeout"/>)
    /// this long after it opened, whatever it sends. Null (default) disables it.
    /// </summary>
    public TimeSpan? MaxConnectionLifetime { get; set; }

    /// <summary>
    /// When set, a connection that has not been <see cref="Iso8583Connection.MarkAuthenticated">authenticated</see> (e.g.
    /// has not signed on) this long after it opened is closed, whatever it sends: traffic does not buy an anonymous peer
    /// more time. Null (default) disables it.
    /// </summary>
    public TimeSpan? AuthenticationTimeout { get; set; }

    /// <summary>The terminal id put in field 41 of the echo requests this side sends (optional).</summary>
    public string? TerminalId { get; set; }

    /// <summary>The STAN source for echo requests (default: a new generator).</summary>
    public StanGenerator Stan { get; set; } = new();

    /// <summary>Signs the format-error (30) and shutdown (91) responses the connection sends by itself; null sends them unsigned.</summary>
    public IMessageMac? AutomaticResponseMac { get; set; }

    /// <summary>How long a graceful close waits for in-flight requests (default 10 s).</summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The clock for timeouts, echoes and back-off (tests pass a FakeTimeProvider).</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>The logger; messages are logged masked.</summary>
    public ILogger Logger { get; set; } = NullLogger.Instance;

    /// <summary>Checks every setting; throws naming the first bad one.</summary>
    /// <exception cref="ArgumentException">A setting is invalid.</exception>
    public virtual void Validate()
    {
        Require(Spec is not null, nameof(Spec), "is required");
        Require(Framing is not null, nameof(Framing), "is required");
        Require(MatchKey is not null, nameof(MatchKey), "is required");
        Require(EchoedFields is not null, nameof(EchoedFields), "is required");
        Require(RequestTimeout > TimeSpan.Zero, nameof(RequestTimeout), "must be positive");
        Require(MaxUnansweredRequests >= 1, nameof(MaxUnansweredRequests), "must be at least 1");
        Require(MaxConcurrentIncomingRequests >= 1, nameof(MaxConcurrentIncomingRequests), "must be at least 1");
        Require(IdleEchoInterval is null || IdleEchoInterval > TimeSpan.Zero, nameof(IdleEchoInterval), "must be positive when set");
        Require(ReceiveIdleTimeout is null || ReceiveIdleTimeout > TimeSpan.Zero, nameof(ReceiveIdleTimeout), "must be positive when set");
        Require(FirstMessageTimeout is null || FirstMessageTimeout > TimeSpan.Zero, nameof(FirstMessageTimeout), "must be positive when set");
        Require(MaxConnectionLifetime is null || MaxConnectionLifetime > TimeSpan.Zero, nameof(MaxConnectionLifetime), "must be positive when set");
        Require(AuthenticationTimeout is null || AuthenticationTimeout > TimeSpan.Zero, nameof(AuthenticationTimeout), "must be positive when set");
        Require(DrainTimeout >= TimeSpan.Zero, nameof(DrainTimeout), "must not be negative");
        Require(TimeProvider is not null, nameof(TimeProvider), "is required");
        Require(Logger is not null, nameof(Logger), "is required");
        Require(Stan is not null, nameof(Stan), "is required");
    }

    /// <summary>Throws an <see cref="ArgumentException"/> naming the setting when the condition fails.</summary>
    /// <param name="condition">The check.</param>
    /// <param name="setting">The setting's name.</param>
    /// <param name="rule">What it must be.</param>
    protected static void Require(bool condition, string setting, string rule)
    {
        if (!condition)
        {
            throw new ArgumentException($"ISO 8583 channel setting {setting} {rule}.", setting);
        }
    }
}

/// <summary>Settings of an <see cref="Iso8583Client"/>: where to dial, TLS, sign-on and reconnect back-off.</summary>
public sealed class Iso8583ClientOptions : Iso8583ConnectionOptions
{
    /// <summary>The host name or address to dial.</summary>
    public string Host { get; set; } = "localhost";

    /// <summary>The TCP port.</summary>
    public int Port { get; set; }

    /// <summary>When set, the connection runs over TLS with these options (e.g. pinned-certificate validation from the security module).</summary>
    public SslClientAuthenticationOptions? Tls { get; set; }

    /// <summary>
    /// Further peers to dial when the current one fails (connect refused or timed out, sign-on failed, or the connection
    /// dropped): the client moves to the next in the order <see cref="Host"/>:<see cref="Port"/>, then these, and back to the
    /// first, with the usual back-off. Each carries its own TLS options. Empty (default): only <see cref="Host"/>.
    /// </summary>
    public IReadOnlyList<Iso8583Endpoint> FailoverEndpoints { get; set; } = [];

    /// <summary>Every peer in dialling order: <see cref="Host"/>:<see cref="Port"/> with <see cref="Tls"/>, then <see cref="FailoverEndpoints"/>.</summary>
    public IReadOnlyList<Iso8583Endpoint> Endpoints => [new Iso8583Endpoint(Host, Port, Tls), .. FailoverEndpoints];

    /// <summary>When set, wraps the connected stream (applied after <see cref="Tls"/>); for custom transports.</summary>
    public Func<Stream, CancellationToken, ValueTask<Stream>>? StreamWrapper { get; set; }

    /// <summary>How long a TCP connect plus TLS handshake may take (default 10 s).</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Runs after every (re)connect before the connection is offered to callers, e.g. an 0800/001 sign-on.
    /// An exception closes the connection and counts as a failed attempt.
    /// </summary>
    public Func<Iso8583Connection, CancellationToken, Task>? SignOn { get; set; }

    /// <summary>
    /// Runs when <see cref="Iso8583Client.StopAsync"/> begins, before the connection is drained, e.g. an 0800/002
    /// sign-off. An exception is logged and the stop continues.
    /// </summary>
    public Func<Iso8583Connection, CancellationToken, Task>? SignOff { get; set; }

    /// <summary>The first reconnect delay (default 0.5 s); it doubles per failed attempt up to <see cref="ReconnectMaxDelay"/>.</summary>
    public TimeSpan ReconnectInitialDelay { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>The largest reconnect delay (default 30 s).</summary>
    public TimeSpan ReconnectMaxDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Returns a number in [0, 1) for the jitter; default is a cryptographic source. Tests may fix it.</summary>
    public Func<double>? JitterSource { get; set; }

    /// <summary>
    /// How long a signed-on connection must stay up before the failed-attempt count (and so the back-off) is reset
    /// (default 10 s). A connection the peer closes sooner counts as a failed attempt, so a peer that keeps closing right
    /// after sign-on (e.g. a host superseding a second device that holds the same terminal master key) is redialled with a
    /// growing delay up to <see cref="ReconnectMaxDelay"/>, not at once. Zero resets the count at every sign-on.
    /// </summary>
    public TimeSpan StableConnectionPeriod { get; set; } = TimeSpan.FromSeconds(10);

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        Require(!string.IsNullOrWhiteSpace(Host), nameof(Host), "is required");
        Require(Port is > 0 and <= 65535, nameof(Port), "must be 1–65535");
        Require(FailoverEndpoints is not null, nameof(FailoverEndpoints), "is required (empty for none)");
        for (var i = 0; i < FailoverEndpoints!.Count; i++)
        {
            var endpoint = FailoverEndpoints[i];
            Require(endpoint is not null && !string.IsNullOrWhiteSpace(endpoint.Host), $"{nameof(FailoverEndpoints)}[{i}].{nameof(Iso8583Endpoint.Host)}", "is required");
            Require(endpoint!.Port is > 0 and <= 65535, $"{nameof(FailoverEndpoints)}[{i}].{nameof(Iso8583Endpoint.Port)}", "must be 1–65535");
        }

        Require(ConnectTimeout > TimeSpan.Zero, nameof(ConnectTimeout), "must be positive");
        Require(ReconnectInitialDelay > TimeSpan.Zero, nameof(ReconnectInitialDelay), "must be positive");
        Require(ReconnectMaxDelay >= ReconnectInitialDelay, nameof(ReconnectMaxDelay), "must be at least ReconnectInitialDelay");
        Require(StableConnectionPeriod >= TimeSpan.Zero, nameof(StableConnectionPeriod), "must not be negative");
    }
}

/// <summary>Settings of an <see cref="Iso8583Server"/>.</summary>
public sealed class Iso8583ServerOptions : Iso8583ConnectionOptions
{
    /// <summary>The address to listen on (default loopback).</summary>
    public IPAddress Address { get; set; } = IPAddress.Loopback;

    /// <summary>The port (0 = any free port; read it from <see cref="Iso8583Server.LocalEndPoint"/>).</summary>
    public int Port { get; set; }

    /// <summary>
    /// Most connections at once (default 1024), counting those in their TLS handshake. When reached, the oldest
    /// unauthenticated connection with no request being handled is evicted for the newcomer; when there is none, the
    /// newcomer is closed at once.
    /// </summary>
    public int MaxConnections { get; set; } = 1024;

    /// <summary>
    /// Most connections at once that have not been <see cref="Iso8583Connection.MarkAuthenticated">authenticated</see>
    /// (default: <see cref="MaxConnections"/>). Below <see cref="MaxConnections"/> it reserves the rest for
    /// authenticated peers. When reached, the oldest unauthenticated connection with no request being handled is
    /// evicted for the newcomer.
    /// </summary>
    public int? MaxUnauthenticatedConnections { get; set; }

    /// <summary>
    /// Most connections at once from one IP address (default: no limit). When reached, the oldest unauthenticated
    /// connection of that address with no request being handled is evicted for the newcomer; when there is none, the
    /// newcomer is closed at once. So one address can only push out its own connections.
    /// </summary>
    public int? MaxConnectionsPerAddress { get; set; }

    /// <summary>
    /// Whether an unauthenticated connection may be evicted while a request of its own is being handled (default false:
    /// a phone keeps its slot while its withdrawal is being authorised). True for a listener whose legitimate peers
    /// authenticate first (the host's ATMs sign on): an anonymous peer that keeps sending then holds no slot by being busy.
    /// </summary>
    public bool EvictBusyUnauthenticated { get; set; }

    /// <summary>When set, every connection runs over TLS with these options.</summary>
    public SslServerAuthenticationOptions? Tls { get; set; }

    /// <summary>When set, wraps each accepted stream (applied after <see cref="Tls"/>).</summary>
    public Func<Stream, CancellationToken, ValueTask<Stream>>? StreamWrapper { get; set; }

    /// <summary>How long a TLS handshake (or stream wrapper) may take (default 10 s).</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        Require(Address is not null, nameof(Address), "is required");
        Require(Port is >= 0 and <= 65535, nameof(Port), "must be 0–65535");
        Require(MaxConnections >= 1, nameof(MaxConnections), "must be at least 1");
        Require(MaxUnauthenticatedConnections is null || (MaxUnauthenticatedConnections >= 1 && MaxUnauthenticatedConnections <= MaxConnections), nameof(MaxUnauthenticatedConnections), "must be 1 to MaxConnections when set");
        Require(MaxConnectionsPerAddress is null || (MaxConnectionsPerAddress >= 1 && MaxConnectionsPerAddress <= MaxConnections), nameof(MaxConnectionsPerAddress), "must be 1 to MaxConnections when set");
        Require(HandshakeTimeout > TimeSpan.Zero, nameof(HandshakeTimeout), "must be positive");
    }
}

/// <summary>Why a channel operation failed.</summary>
public enum ChannelErrorReason
{
    /// <summary>The client has no live connection right now.</summary>
    NotConnected,

    /// <summary>The connection closed (or is closing) before the response came.</summary>
    ConnectionClosed,

    /// <summary>No response came within the request timeout.</summary>
    Timeout,

    /// <summary>A request with the same match key is already waiting on this connection.</summary>
    DuplicateMatchKey,

    /// <summary>The message is not a request or advice.</summary>
    NotARequest,

    /// <summary>The peer's response to this request could not be unpacked.</summary>
    MalformedResponse,
}

/// <summary>A channel operation failed; the reason says how.</summary>
public sealed class Iso8583ChannelException : IOException
{
    /// <summary>Creates the error.</summary>
    /// <param name="reason">Why.</param>
    /// <param name="message">What happened (never message contents).</param>
    /// <param name="inner">The cause, if any.</param>
    public Iso8583ChannelException(ChannelErrorReason reason, string message, Exception? inner = null) : base(message, inner)
    {
        Reason = reason;
    }

    /// <summary>Why the operation failed.</summary>
    public ChannelErrorReason Reason { get; }
}
