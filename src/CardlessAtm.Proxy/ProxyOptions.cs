using System.Globalization;
using System.Net;
using CardlessAtm.Network;

namespace CardlessAtm.Proxy;

/// <summary>
/// Settings of a proxy (configuration section <c>Proxy</c>). Two listeners: one for the ATMs' persistent
/// connections, one for phones. Validated by <see cref="Validate"/> when a <see cref="ProxyServer"/> is created.
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

    /// <summary>Checks every setting; throws naming the first bad one.</summary>
    /// <exception cref="ConfigurationException">A setting is invalid.</exception>
    public void Validate()
    {
        Require(Atm is not null, "Proxy:Atm", "is required");
        Require(Phone is not null, "Proxy:Phone", "is required");
        Atm!.Validate("Proxy:Atm");
        Phone!.Validate("Proxy:Phone");
        ValidateAtmIdentity();
        ValidatePhoneTransport();
        Require(ForwardTimeout > TimeSpan.Zero, "Proxy:ForwardTimeout", string.Create(CultureInfo.InvariantCulture, $"must be positive (e.g. 00:01:30), not {ForwardTimeout}"));
        Require(MaxRequestsPerPhoneConnection >= 1, "Proxy:MaxRequestsPerPhoneConnection", "must be at least 1");
        Require(MaxConcurrentRequestsPerPhoneConnection >= 1, "Proxy:MaxConcurrentRequestsPerPhoneConnection", "must be at least 1");
        Require(MaxUnansweredPerAtm >= 1, "Proxy:MaxUnansweredPerAtm", "must be at least 1");
        Require(PhoneIdleTimeout > ForwardTimeout, "Proxy:PhoneIdleTimeout", string.Create(CultureInfo.InvariantCulture, $"must exceed Proxy:ForwardTimeout ({ForwardTimeout}), since a phone is silent while it waits for its answer"));
        Require(AtmEchoInterval is null || AtmEchoInterval > TimeSpan.Zero, "Proxy:AtmEchoInterval", "must be positive when set");
        Require(AtmSignOnTimeout > TimeSpan.Zero, "Proxy:AtmSignOnTimeout", "must be positive");
        Require(HandshakeTimeout > TimeSpan.Zero, "Proxy:HandshakeTimeout", "must be positive");
        Require(MaxAtmConnectionsBeforeSignOn >= 1 && MaxAtmConnectionsBeforeSignOn <= Atm.MaxConnections, "Proxy:MaxAtmConnectionsBeforeSignOn", string.Create(CultureInfo.InvariantCulture, $"must be 1 to Proxy:Atm:MaxConnections ({Atm.MaxConnections})"));
        Require(PhoneConnectionLifetime > ForwardTimeout, "Proxy:PhoneConnectionLifetime", string.Create(CultureInfo.InvariantCulture, $"must exceed Proxy:ForwardTimeout ({ForwardTimeout}), so a phone's request can be answered"));
        Require(PhoneFirstMessageTimeout > TimeSpan.Zero, "Proxy:PhoneFirstMessageTimeout", "must be positive");
        Require(MaxKnownAtms >= Atm.MaxConnections, "Proxy:MaxKnownAtms", string.Create(CultureInfo.InvariantCulture, $"must be at least Proxy:Atm:MaxConnections ({Atm.MaxConnections}), so no online ATM is ever forgotten"));
        if (Atm.Port != 0 && Atm.Port == Phone.Port && Atm.BindAddress.Equals(Phone.BindAddress))
        {
            throw new ConfigurationException("Proxy:Phone:Port", string.Create(CultureInfo.InvariantCulture, $"Proxy:Phone:Port {Phone.Port} is also Proxy:Atm:Port; the two listeners need different ports."));
        }
    }

    // The ATM port is where an ATM claims its id: without a per-ATM certificate any connection can claim any id.
    private void ValidateAtmIdentity()
    {
        var tls = Atm.Tls;
        Require(tls.HasClientAuthority || Atm.Insecure, "Proxy:Atm:Tls:ClientCaCertificatePath", "must name the ATM CA certificate (mutual TLS: each ATM proves its id with its certificate); plain TCP or TLS without ATM certificates needs Proxy:Atm:Insecure = true");
        tls.ValidateClientAuthority("Proxy:Atm:Tls");
        Require(string.IsNullOrWhiteSpace(Phone.Tls.ClientCaCertificatePath) && string.IsNullOrWhiteSpace(Phone.Tls.DenyListPath), "Proxy:Phone:Tls:ClientCaCertificatePath", "is for the ATM port only (phones authenticate with their DUKPT MAC)");
    }

    // Phones send account data and PIN blocks (encrypted, but still their traffic) here: TLS unless a lab says otherwise.
    private void ValidatePhoneTransport() =>
        Require(Phone.Tls.Enabled || Phone.Insecure, "Proxy:Phone:Tls:CertificatePath", "must name the phone port's TLS certificate (with Proxy:Phone:Tls:PrivateKeyPath; make them with 'cardless-atm keys tls', phones pin it as Phone:TlsServerPin); plain TCP needs Proxy:Phone:Insecure = true");

    internal static void Require(bool condition, string setting, string rule)
    {
        if (!condition)
        {
            throw new ConfigurationException(setting, $"{setting} {rule}.");
        }
    }
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

    /// <summary>The parsed <see cref="Address"/> (valid after <see cref="Validate"/>).</summary>
    internal IPAddress BindAddress { get; private set; } = IPAddress.Loopback;

    internal void Validate(string section)
    {
        if (string.Equals(Address, "localhost", StringComparison.OrdinalIgnoreCase))
        {
            BindAddress = IPAddress.Loopback;
        }
        else if (IPAddress.TryParse(Address, out var parsed))
        {
            BindAddress = parsed;
        }
        else
        {
            throw new ConfigurationException($"{section}:Address", $"{section}:Address '{Address}' is not an IP address (e.g. 127.0.0.1, 0.0.0.0, ::) or 'localhost'.");
        }

        ProxyOptions.Require(Port is >= 0 and <= 65535, $"{section}:Port", "must be 0–65535 (0 picks a free port)");
        ProxyOptions.Require(MaxConnections >= 1, $"{section}:MaxConnections", "must be at least 1");
        ProxyOptions.Require(MaxConnectionsPerAddress >= 1 && MaxConnectionsPerAddress <= MaxConnections, $"{section}:MaxConnectionsPerAddress", string.Create(CultureInfo.InvariantCulture, $"must be 1 to {section}:MaxConnections ({MaxConnections})"));
        ProxyOptions.Require(Tls is not null, $"{section}:Tls", "is required (leave its settings empty, with Insecure = true, for plain TCP)");
        Tls!.Validate($"{section}:Tls");
    }
}
