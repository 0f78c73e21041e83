using System.Net;
using CardlessAtm.Network;

namespace CardlessAtm.Proxy;

/// <summary>
/// Settings of a proxy (configuration section <c>Proxy</c>). Two listeners: one for the ATMs' persistent
/// connections, one for phones. Checked by <see cref="ProxyOptionsValidator"/> at host start and when a <see cref="ProxyServer"/> is created.
/// </summary>
public sealed class ProxyOptions
{
    /// <summary>The configuration section name.</summary>
    public const string SectionName = "Proxy";

    /// <summary>The default ATM listener port.</summary>
    public const int DefaultAtmPort = 8584;

    /// <summary>The default phone listener port.</summary>
    public const int DefaultPhonePort = 8585;

    /// <summary>Where ATMs dial in and sign on (default 127.0.0.1:8584, at most 1024 connections).</summary>
    public ProxyListenerOptions Atm { get; set; } = new() { Port = DefaultAtmPort };

    /// <summary>Where phones send their 0200 requests (default 127.0.0.1:8585, at most 1024 connections).</summary>
    public ProxyListenerOptions Phone { get; set; } = new() { Port = DefaultPhonePort };

    /// <summary>
    /// How long a forwarded 0200 may wait for the ATM's 0210 (default 90 s: the ATM asks the host, then
    /// dispenses and presents before it answers). On expiry the phone gets 91 and the outcome is logged as unknown.
    /// </summary>
    public TimeSpan ForwardTimeout { get; set; } = TimeSpan.FromSeconds(90);

    /// <summary>Requests a phone connection may send; the connection is closed after answering the last (default 4).</summary>
    public int MaxRequestsPerPhoneConnection { get; set; } = 4;

    /// <summary>Requests of one phone connection handled at once; more wait (the proxy stops reading that connection) (default 2).</summary>
    public int MaxConcurrentRequestsPerPhoneConnection { get; set; } = 2;

    /// <summary>Forwards to one ATM that may await an answer at once; past this a phone gets 91 at once (default 16).</summary>
    public int MaxUnansweredPerAtm { get; set; } = 16;

    /// <summary>
    /// A phone connection that sends nothing for this long is closed (default 120 s). Must exceed
    /// <see cref="ForwardTimeout"/>, because a phone is silent while it waits for its answer.
    /// </summary>
    public TimeSpan PhoneIdleTimeout { get; set; } = TimeSpan.FromSeconds(120);

    /// <summary>
    /// When set (default 30 s), an ATM connection that has been silent this long is sent an echo test (0800/301);
    /// one that does not answer is closed and its ATM goes offline, so a dead link is noticed and a reconnecting
    /// ATM is not refused for long. Null disables it.
    /// </summary>
    public TimeSpan? AtmEchoInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// An ATM connection that has not signed on this long after it was accepted is closed (default 30 s), so that
    /// connections which never identify themselves cannot hold the ATM listener's slots.
    /// </summary>
    public TimeSpan AtmSignOnTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a TLS handshake may take on either listener (default 10 s).</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Most ATM connections at once that have not signed on (default 256). The rest of <c>Proxy:Atm:MaxConnections</c>
    /// is reserved for signed-on ATMs; when reached, the oldest connection that has not signed on is closed for the
    /// newcomer, so a flood of anonymous sockets never keeps an ATM from dialling in.
    /// </summary>
    public int MaxAtmConnectionsBeforeSignOn { get; set; } = 256;

    /// <summary>
    /// A phone connection is closed this long after it opened, whatever it sends (default 5 min; its requests in
    /// flight are answered first). Keep-alive frames never extend it. Must exceed <see cref="ForwardTimeout"/>.
    /// </summary>
    public TimeSpan PhoneConnectionLifetime { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>A phone connection that has not sent a complete message this long after it opened is closed (default 30 s): slow-loris.</summary>
    public TimeSpan PhoneFirstMessageTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Most ATM ids the proxy remembers (default 10,000). Only signed-on ATMs are entered; when full, the id that has
    /// been offline longest is forgotten (a phone request for it is then answered 92 until it signs on again).
    /// Must be at least <c>Proxy:Atm:MaxConnections</c>, so an online ATM is never forgotten.
    /// </summary>
    public int MaxKnownAtms { get; set; } = 10_000;

    /// <summary>How phone requests find their ATM: <c>Local</c> (default) or across a fleet over <c>Nats</c> (section <c>Proxy:Routing</c>; validated by the proxy, see docs/scale-out.md).</summary>
    public Routing.ProxyRoutingOptions Routing { get; set; } = new();
}

/// <summary>One listener of the proxy.</summary>
public sealed class ProxyListenerOptions
{
    /// <summary>The address to listen on: an IP address, or <c>localhost</c> (default 127.0.0.1). Use 0.0.0.0 or :: for every interface.</summary>
    public string Address { get; set; } = "127.0.0.1";

    /// <summary>The TCP port; 0 picks a free one (read it from <see cref="ProxyServer.AtmEndPoint"/> / <see cref="ProxyServer.PhoneEndPoint"/>).</summary>
    public int Port { get; set; }

    /// <summary>
    /// Most connections at once on this listener (default 1024). When reached, the oldest connection that has not
    /// signed on and has no request being handled is closed for the newcomer; only when there is none is the
    /// newcomer closed at once.
    /// </summary>
    public int MaxConnections { get; set; } = 1024;

    /// <summary>
    /// Most connections at once from one IP address (default 64). When reached, the oldest of that address's
    /// connections that has not signed on and has no request being handled is closed for the newcomer, so one
    /// address only ever pushes out its own. Raise it for many ATMs or phones behind one NAT address.
    /// </summary>
    public int MaxConnectionsPerAddress { get; set; } = 64;

    /// <summary>TLS for this listener: required unless <see cref="Insecure"/> is true.</summary>
    public TlsListenerOptions Tls { get; set; } = new();

    /// <summary>
    /// ATM port (<c>Proxy:Atm:Insecure</c>): true lets ATMs sign on without an ATM certificate (plain TCP, or TLS without
    /// <see cref="TlsListenerOptions.ClientCaCertificatePath"/>), so any connection may claim any ATM id. Phone port
    /// (<c>Proxy:Phone:Insecure</c>): true lets it listen on plain TCP when <see cref="Tls"/> has no certificate. For a
    /// lab that chooses this knowingly; the proxy logs a warning at start-up. Default false.
    /// </summary>
    public bool Insecure { get; set; }

    /// <summary>The parsed <see cref="Address"/> (valid once <see cref="ProxyOptionsValidator"/> accepted it).</summary>
    internal IPAddress BindAddress => ProxyOptionsValidator.ParseAddress(Address) ?? IPAddress.Loopback;
}
