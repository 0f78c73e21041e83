using System.Globalization;
using System.Text.RegularExpressions;
using CardlessAtm.Network;
using CardlessAtm.Security;

namespace CardlessAtm.Proxy.Routing;

/// <summary>
/// How a phone request finds its ATM (configuration section <c>Proxy:Routing</c>). <c>Local</c> (the default): only
/// ATMs signed on to this proxy are reachable. <c>Nats</c>: the proxies of a fleet share one NATS server (cluster);
/// each claims the ATMs signed on to it in a JetStream key-value bucket and answers requests for them on a subject per
/// ATM id, so a phone may send to any proxy. See docs/scale-out.md.
/// </summary>
public sealed class ProxyRoutingOptions
{
    /// <summary>Routing to the ATMs of this proxy only (today's behaviour).</summary>
    public const string LocalKind = "Local";

    /// <summary>Routing across a proxy fleet over NATS.</summary>
    public const string NatsKind = "Nats";

    /// <summary><c>Local</c> (default) or <c>Nats</c>.</summary>
    public string Kind { get; set; } = LocalKind;

    /// <summary>The NATS settings, read when <see cref="Kind"/> is <c>Nats</c>.</summary>
    public NatsRoutingOptions Nats { get; set; } = new();

    /// <summary>True when <see cref="Kind"/> is <c>Nats</c> (valid after <see cref="Validate"/>).</summary>
    internal bool IsNats => string.Equals(Kind, NatsKind, StringComparison.OrdinalIgnoreCase);

    /// <summary>Checks every setting; throws naming the first bad one. Never quotes a password or token.</summary>
    /// <exception cref="ConfigurationException">A setting is invalid.</exception>
    public void Validate()
    {
        if (!string.Equals(Kind, LocalKind, StringComparison.OrdinalIgnoreCase) && !IsNats)
        {
            throw new ConfigurationException("Proxy:Routing:Kind", $"Proxy:Routing:Kind '{Kind}' is not one of Local, Nats.");
        }

        if (IsNats)
        {
            Require(Nats is not null, "Proxy:Routing:Nats", "is required when Proxy:Routing:Kind is Nats");
            Nats!.Validate();
        }
    }

    internal static void Require(bool condition, string setting, string rule)
    {
        if (!condition)
        {
            throw new ConfigurationException(setting, $"{setting} {rule}.");
        }
    }
}

/// <summary>The NATS link of a proxy fleet (<c>Proxy:Routing:Nats</c>).</summary>
public sealed partial class NatsRoutingOptions
{
    /// <summary>The setting that names the fleet key file.</summary>
    public const string FleetKeyPathSetting = "Proxy:Routing:Nats:FleetKeyPath";

    private const string FleetKeyRequired = "is required when Proxy:Routing:Kind is Nats: it names the fleet's 0600 key file that authenticates the messages between proxies (make one with 'cardless-atm proxy fleet-key --out FILE', then copy it to every proxy of the fleet)";

    /// <summary>The NATS server, e.g. <c>nats://127.0.0.1:4222</c> or <c>tls://nats.bank.example:4222</c>. Required. Put credentials in <see cref="User"/>/<see cref="Password"/> or <see cref="Token"/>, not in the URL.</summary>
    public string? Url { get; set; }

    /// <summary>This proxy's name in the fleet, written into the ownership bucket (default: host name, process id and a random suffix, unique per process).</summary>
    public string? ProxyId { get; set; }

    /// <summary>The JetStream key-value bucket of ATM ownership (default <c>cardless-atm-owners</c>); the first proxy creates it.</summary>
    public string Bucket { get; set; } = "cardless-atm-owners";

    /// <summary>The subject prefix; requests for ATM X go to <c>{prefix}.atm.X</c> (default <c>cardless.atm</c>).</summary>
    public string SubjectPrefix { get; set; } = "cardless.atm";

    /// <summary>
    /// How long an ownership entry lives unrefreshed (default 30 s; the bucket's MaxAge, since nats-server 2.9 has no
    /// per-key TTL). The owner rewrites its entries every third of this, so a crashed proxy's claims vanish within it.
    /// All proxies of a fleet must use the same value: the first one to start creates the bucket.
    /// </summary>
    public TimeSpan OwnerTtl { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long start-up waits for the NATS server (default 5 s).</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>NATS user name (with <see cref="Password"/>), or null.</summary>
    public string? User { get; set; }

    /// <summary>NATS password; never logged or shown in an error.</summary>
    public string? Password { get; set; }

    /// <summary>NATS authentication token (instead of <see cref="User"/>); never logged or shown in an error.</summary>
    public string? Token { get; set; }

    /// <summary>PEM file of the CA that signed the NATS server's certificate; setting it requires TLS to the server.</summary>
    public string? TlsCaCertificatePath { get; set; }

    /// <summary>
    /// The fleet key file (<see cref="FleetKeyPathSetting"/>): one AES-256 key in the key-file format, mode 0600 in a
    /// 0700 directory, the same on every proxy of the fleet (make it with <c>cardless-atm proxy fleet-key --out FILE</c>).
    /// It authenticates the requests and replies between proxies. Required with <c>Nats</c>.
    /// </summary>
    public string? FleetKeyPath { get; set; }

    /// <summary>The proxy id in use: <see cref="ProxyId"/> or the per-process default.</summary>
    internal string EffectiveProxyId => string.IsNullOrWhiteSpace(ProxyId) ? DefaultProxyId : ProxyId;

    /// <summary>The URL without any user information, for messages.</summary>
    internal string SafeUrl => Uri.TryCreate(Url, UriKind.Absolute, out var uri) ? $"{uri.Scheme}://{uri.Host}:{(uri.IsDefaultPort ? 4222 : uri.Port).ToString(CultureInfo.InvariantCulture)}" : "(unparsable URL)";

    private static string DefaultProxyId { get; } = string.Create(CultureInfo.InvariantCulture, $"{Environment.MachineName}-{Environment.ProcessId}-{Random.Shared.Next(0x10000):x4}");

    internal void Validate()
    {
        const string Section = "Proxy:Routing:Nats";
        ProxyRoutingOptions.Require(!string.IsNullOrWhiteSpace(Url), $"{Section}:Url", "is required when Proxy:Routing:Kind is Nats (e.g. nats://127.0.0.1:4222)");
        ProxyRoutingOptions.Require(
            Uri.TryCreate(Url, UriKind.Absolute, out var uri) && uri.Scheme is "nats" or "tls" && uri.Host.Length > 0,
            $"{Section}:Url",
            "must be a nats:// or tls:// URL with a host (e.g. nats://127.0.0.1:4222)");
        ProxyRoutingOptions.Require(uri!.UserInfo.Length == 0, $"{Section}:Url", $"must not carry credentials ({SafeUrl}); use {Section}:User and :Password, or :Token");
        ProxyRoutingOptions.Require(ProxyId is null || SubjectToken().IsMatch(ProxyId), $"{Section}:ProxyId", "must be letters, digits, '-' or '_'");
        ProxyRoutingOptions.Require(SubjectToken().IsMatch(Bucket ?? string.Empty), $"{Section}:Bucket", "must be letters, digits, '-' or '_'");
        ProxyRoutingOptions.Require(SubjectPrefix is not null && SubjectPrefix.Split('.').All(SubjectToken().IsMatch), $"{Section}:SubjectPrefix", "must be dot-separated tokens of letters, digits, '-' or '_' (no wildcards)");
        ProxyRoutingOptions.Require(OwnerTtl >= TimeSpan.FromSeconds(1), $"{Section}:OwnerTtl", "must be at least 00:00:01");
        ProxyRoutingOptions.Require(ConnectTimeout > TimeSpan.Zero, $"{Section}:ConnectTimeout", "must be positive");
        ProxyRoutingOptions.Require(string.IsNullOrEmpty(Password) || !string.IsNullOrEmpty(User), $"{Section}:User", "is required with a password");
        ProxyRoutingOptions.Require(string.IsNullOrEmpty(Token) || string.IsNullOrEmpty(User), $"{Section}:Token", "and User are alternatives; set one");
        ProxyRoutingOptions.Require(string.IsNullOrEmpty(TlsCaCertificatePath) || File.Exists(TlsCaCertificatePath), $"{Section}:TlsCaCertificatePath", $"'{TlsCaCertificatePath}' does not exist");
        if (string.IsNullOrWhiteSpace(FleetKeyPath))
        {
            throw new ConfigurationException(FleetKeyPathSetting, FleetKeyRequired);
        }
    }

    /// <summary>Reads the fleet key file (its permissions, format, KCV and algorithm checked).</summary>
    /// <exception cref="ConfigurationException">Unset, missing, too open, malformed or not AES-256; names <see cref="FleetKeyPathSetting"/>.</exception>
    internal SecretKey LoadFleetKey() => ConfiguredKeyFile.LoadAes256(FleetKeyPath, FleetKeyPathSetting, FleetKeyRequired, "a fleet key");

    /// <summary>Replaces the password and token in <paramref name="text"/> (e.g. a client exception's message).</summary>
    internal string Redact(string text)
    {
        foreach (var secret in new[] { Password, Token })
        {
            if (!string.IsNullOrEmpty(secret))
            {
                text = text.Replace(secret, "***", StringComparison.Ordinal);
            }
        }

        return text;
    }

    [GeneratedRegex("^[A-Za-z0-9_-]{1,64}$")]
    private static partial Regex SubjectToken();
}
