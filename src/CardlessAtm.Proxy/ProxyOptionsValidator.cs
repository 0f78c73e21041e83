using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;

namespace CardlessAtm.Proxy;

/// <summary>
/// The rules for <see cref="ProxyOptions"/> (section <c>Proxy</c>) and its two listeners, run at host start by
/// <see cref="ProxyServiceCollectionExtensions.AddProxy"/> and by <see cref="ProxyServer"/>'s constructor. Every
/// failure names the full setting (<c>Proxy:Atm:Port: …</c>).
/// </summary>
public sealed class ProxyOptionsValidator : ConfigurationValidator<ProxyOptions>
{
    /// <inheritdoc/>
    protected override void Check(ProxyOptions options) => ThrowIfInvalid(options);

    /// <summary>Checks every setting; throws naming the first bad one.</summary>
    /// <exception cref="ConfigurationException">A setting is invalid.</exception>
    public static void ThrowIfInvalid(ProxyOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Require(options.Atm is not null, "Proxy:Atm", "is required");
        Require(options.Phone is not null, "Proxy:Phone", "is required");
        CheckListener(options.Atm, "Proxy:Atm");
        CheckListener(options.Phone, "Proxy:Phone");
        ValidateAtmIdentity(options);
        ValidatePhoneTransport(options);
        Require(options.ForwardTimeout > TimeSpan.Zero, "Proxy:ForwardTimeout", string.Create(CultureInfo.InvariantCulture, $"must be positive (e.g. 00:01:30), not {options.ForwardTimeout}"));
        Require(options.MaxRequestsPerPhoneConnection >= 1, "Proxy:MaxRequestsPerPhoneConnection", "must be at least 1");
        Require(options.MaxConcurrentRequestsPerPhoneConnection >= 1, "Proxy:MaxConcurrentRequestsPerPhoneConnection", "must be at least 1");
        Require(options.MaxUnansweredPerAtm >= 1, "Proxy:MaxUnansweredPerAtm", "must be at least 1");
        Require(options.PhoneIdleTimeout > options.ForwardTimeout, "Proxy:PhoneIdleTimeout", string.Create(CultureInfo.InvariantCulture, $"must exceed Proxy:ForwardTimeout ({options.ForwardTimeout}), since a phone is silent while it waits for its answer"));
        Require(options.AtmEchoInterval is null || options.AtmEchoInterval > TimeSpan.Zero, "Proxy:AtmEchoInterval", "must be positive when set");
        Require(options.AtmSignOnTimeout > TimeSpan.Zero, "Proxy:AtmSignOnTimeout", "must be positive");
        Require(options.HandshakeTimeout > TimeSpan.Zero, "Proxy:HandshakeTimeout", "must be positive");
        Require(options.MaxAtmConnectionsBeforeSignOn >= 1 && options.MaxAtmConnectionsBeforeSignOn <= options.Atm.MaxConnections, "Proxy:MaxAtmConnectionsBeforeSignOn", string.Create(CultureInfo.InvariantCulture, $"must be 1 to Proxy:Atm:MaxConnections ({options.Atm.MaxConnections})"));
        Require(options.PhoneConnectionLifetime > options.ForwardTimeout, "Proxy:PhoneConnectionLifetime", string.Create(CultureInfo.InvariantCulture, $"must exceed Proxy:ForwardTimeout ({options.ForwardTimeout}), so a phone's request can be answered"));
        Require(options.PhoneFirstMessageTimeout > TimeSpan.Zero, "Proxy:PhoneFirstMessageTimeout", "must be positive");
        Require(options.MaxKnownAtms >= options.Atm.MaxConnections, "Proxy:MaxKnownAtms", string.Create(CultureInfo.InvariantCulture, $"must be at least Proxy:Atm:MaxConnections ({options.Atm.MaxConnections}), so no online ATM is ever forgotten"));
        if (options.Atm.Port != 0 && options.Atm.Port == options.Phone.Port && options.Atm.BindAddress.Equals(options.Phone.BindAddress))
        {
            throw new ConfigurationException("Proxy:Phone:Port", string.Create(CultureInfo.InvariantCulture, $"Proxy:Phone:Port {options.Phone.Port} is also Proxy:Atm:Port; the two listeners need different ports."));
        }

        Require(options.Routing is not null, "Proxy:Routing", "is required (leave it empty for Kind = Local)");
        options.Routing!.Validate();
    }

    // The ATM port is where an ATM claims its id: without a per-ATM certificate any connection can claim any id.
    private static void ValidateAtmIdentity(ProxyOptions options)
    {
        var tls = options.Atm.Tls;
        Require(tls.HasClientAuthority || options.Atm.Insecure, "Proxy:Atm:Tls:ClientCaCertificatePath", "must name the ATM CA certificate (mutual TLS: each ATM proves its id with its certificate); plain TCP or TLS without ATM certificates needs Proxy:Atm:Insecure = true");
        tls.ValidateClientAuthority("Proxy:Atm:Tls");
        Require(string.IsNullOrWhiteSpace(options.Phone.Tls.ClientCaCertificatePath) && string.IsNullOrWhiteSpace(options.Phone.Tls.DenyListPath), "Proxy:Phone:Tls:ClientCaCertificatePath", "is for the ATM port only (phones authenticate with their DUKPT MAC)");
    }

    // Phones send account data and PIN blocks (encrypted, but still their traffic) here: TLS unless a lab says otherwise.
    private static void ValidatePhoneTransport(ProxyOptions options) =>
        Require(options.Phone.Tls.Enabled || options.Phone.Insecure, "Proxy:Phone:Tls:CertificatePath", "must name the phone port's TLS certificate (with Proxy:Phone:Tls:PrivateKeyPath; make them with 'cardless-atm keys tls', phones pin it as Phone:TlsServerPin); plain TCP needs Proxy:Phone:Insecure = true");

    private static void Require(bool condition, string setting, string rule)
    {
        if (!condition)
        {
            throw new ConfigurationException(setting, $"{setting} {rule}.");
        }
    }

    // Called after the Require that the listener is there: [NotNull] tells the checks after it so.
    private static void CheckListener([NotNull] ProxyListenerOptions? listener, string section)
    {
        ArgumentNullException.ThrowIfNull(listener);
        if (ParseAddress(listener.Address) is null)
        {
            throw new ConfigurationException($"{section}:Address", $"{section}:Address '{listener.Address}' is not an IP address (e.g. 127.0.0.1, 0.0.0.0, ::) or 'localhost'.");
        }

        Require(listener.Port is >= 0 and <= 65535, $"{section}:Port", "must be 0–65535 (0 picks a free port)");
        Require(listener.MaxConnections >= 1, $"{section}:MaxConnections", "must be at least 1");
        Require(listener.MaxConnectionsPerAddress >= 1 && listener.MaxConnectionsPerAddress <= listener.MaxConnections, $"{section}:MaxConnectionsPerAddress", string.Create(CultureInfo.InvariantCulture, $"must be 1 to {section}:MaxConnections ({listener.MaxConnections})"));
        Require(listener.Tls is not null, $"{section}:Tls", "is required (leave its settings empty, with Insecure = true, for plain TCP)");
        listener.Tls!.Validate($"{section}:Tls");
    }

    /// <summary>The address a listener binds: <c>localhost</c> is the loopback address; null when <paramref name="address"/> is neither an IP address nor that.</summary>
    internal static IPAddress? ParseAddress(string? address) =>
        string.Equals(address, "localhost", StringComparison.OrdinalIgnoreCase) ? IPAddress.Loopback
        : IPAddress.TryParse(address, out var parsed) ? parsed
        : null;
}
