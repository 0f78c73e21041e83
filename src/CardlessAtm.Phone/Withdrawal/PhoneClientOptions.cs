using System.Globalization;
using System.Net.Security;
using CardlessAtm.Network;
using CardlessAtm.Security;

namespace CardlessAtm.Phone.Withdrawal;

/// <summary>The proxy's address, <c>host:port</c> (IPv6 as <c>[::1]:port</c>).</summary>
/// <param name="Host">Host name or address.</param>
/// <param name="Port">TCP port, 1-65535.</param>
public sealed record ProxyEndpoint(string Host, int Port)
{
    /// <summary>Parses <c>host:port</c>.</summary>
    /// <exception cref="PhoneInputException"><see cref="PhoneInputError.InvalidSetting"/> naming <paramref name="setting"/>.</exception>
    public static ProxyEndpoint Parse(string? text, string setting = "--proxy")
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            throw new PhoneInputException(PhoneInputError.InvalidSetting, setting, "no proxy address was given; use host:port, e.g. 127.0.0.1:7010.");
        }

        var colon = text.LastIndexOf(':');
        if (colon <= 0 || colon == text.Length - 1)
        {
            throw new PhoneInputException(PhoneInputError.InvalidSetting, setting, $"'{text}' is not host:port, e.g. 127.0.0.1:7010.");
        }

        var host = text[..colon];
        if (host.StartsWith('[') && host.EndsWith(']'))
        {
            host = host[1..^1];
        }
        else if (host.Contains(':', StringComparison.Ordinal))
        {
            throw new PhoneInputException(PhoneInputError.InvalidSetting, setting, $"'{text}': write an IPv6 address in brackets, e.g. [::1]:7010.");
        }

        if (!int.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
        {
            throw new PhoneInputException(PhoneInputError.InvalidSetting, setting, $"'{text}': the port must be a number 1-65535.");
        }

        return host.Length == 0
            ? throw new PhoneInputException(PhoneInputError.InvalidSetting, setting, $"'{text}': the host is empty.")
            : new ProxyEndpoint(host, port);
    }

    /// <summary><c>host:port</c>.</summary>
    public override string ToString() => Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]:{Port}" : $"{Host}:{Port}";
}

/// <summary>How the phone reaches the proxy.</summary>
public sealed class PhoneClientOptions
{
    /// <summary>Creates options for <paramref name="proxy"/>.</summary>
    public PhoneClientOptions(ProxyEndpoint proxy) => Proxy = proxy ?? throw new ArgumentNullException(nameof(proxy));

    /// <summary>Options for <paramref name="proxy"/> over TLS 1.3, accepting only a proxy certificate matching <paramref name="serverPin"/>.</summary>
    /// <param name="proxy">The proxy's phone port.</param>
    /// <param name="serverPin">The pin of the phone port's certificate.</param>
    /// <param name="targetHost">The TLS server name to send (default: the proxy's host).</param>
    public static PhoneClientOptions Pinned(ProxyEndpoint proxy, CertificatePin serverPin, string? targetHost = null)
    {
        ArgumentNullException.ThrowIfNull(proxy);
        ArgumentNullException.ThrowIfNull(serverPin);
        return new PhoneClientOptions(proxy) { Tls = TlsSetup.ClientOptions(targetHost ?? proxy.Host, serverPin), ServerPin = serverPin };
    }

    /// <summary>Where the proxy listens for phones.</summary>
    public ProxyEndpoint Proxy { get; }

    /// <summary>The link runs over TLS 1.3 and the proxy must present the pinned certificate (see <see cref="TlsSetup.ClientOptions"/>). Required unless <see cref="Insecure"/>.</summary>
    public SslClientAuthenticationOptions? Tls { get; init; }

    /// <summary>The pin <see cref="Tls"/> checks the proxy's certificate against, for telling which certificate a session pinned (<see cref="CardlessWithdrawalClient.LinkSecurity"/>).</summary>
    public CertificatePin? ServerPin { get; init; }

    /// <summary>
    /// True lets the phone talk to the proxy over plain TCP when <see cref="Tls"/> is not set (<c>Phone:Insecure</c>), for a
    /// lab that chooses this knowingly; the phone logs a warning each time it connects. Default false.
    /// </summary>
    public bool Insecure { get; init; }

    /// <summary>How long to try to reach the proxy (TCP and TLS) before giving up with nothing sent (default 10 s).</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How long to wait for the answer once the request is sent (default 100 s: the ATM asks the host and then
    /// dispenses before it answers, and the proxy gives it 90 s before answering the phone itself, so the proxy's
    /// answer arrives first). After this the outcome is unknown.
    /// </summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(100);

    /// <summary>Checks the transport and the timeouts.</summary>
    /// <exception cref="PhoneInputException">No TLS and not <see cref="Insecure"/>, or a timeout is not positive.</exception>
    public void Validate()
    {
        if (Tls is null && !Insecure)
        {
            throw new PhoneInputException(PhoneInputError.InvalidSetting, "Phone:TlsServerPin", "must be the pin of the proxy's phone-port certificate (as 'cardless-atm keys tls' prints it): the phone talks to the proxy over TLS 1.3. Plain TCP needs Phone:Insecure = true.");
        }

        if (ConnectTimeout <= TimeSpan.Zero)
        {
            throw new PhoneInputException(PhoneInputError.InvalidSetting, "Phone:ConnectTimeout", "must be positive, e.g. 00:00:10.");
        }

        if (RequestTimeout <= TimeSpan.Zero)
        {
            throw new PhoneInputException(PhoneInputError.InvalidSetting, "Phone:RequestTimeout", "must be positive, e.g. 00:01:30.");
        }
    }
}

/// <summary>
/// The <c>Phone</c> configuration section, as the command line and a phone app's settings file give it. Turn it into
/// <see cref="PhoneClientOptions"/> with <see cref="ToClientOptions"/>.
/// </summary>
public sealed class PhoneSettings
{
    /// <summary>The configuration section name.</summary>
    public const string SectionName = "Phone";

    /// <summary><c>Phone:Proxy</c>: the proxy's <c>host:port</c> for phones.</summary>
    public string? Proxy { get; set; }

    /// <summary><c>Phone:Enrolment</c>: the enrolment file (<c>*.key</c>, mode 0600).</summary>
    public string? Enrolment { get; set; }

    /// <summary><c>Phone:ConnectTimeout</c> (default 00:00:10).</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary><c>Phone:RequestTimeout</c> (default 00:01:40, longer than the proxy's 90 s forward timeout).</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(100);

    /// <summary><c>Phone:TlsServerPin</c>: TLS is used and the proxy's certificate must match this pin (<c>spki-sha256:BASE64</c> or <c>cert-sha256:HEX</c>, as printed when the proxy's certificate was made).</summary>
    public string? TlsServerPin { get; set; }

    /// <summary><c>Phone:TlsTargetHost</c>: the TLS server name to send (default: the proxy's host).</summary>
    public string? TlsTargetHost { get; set; }

    /// <summary><c>Phone:Insecure</c>: true allows plain TCP to the proxy when <see cref="TlsServerPin"/> is not set (a lab only; warned about).</summary>
    public bool Insecure { get; set; }

    /// <summary>
    /// The configuration keys of the phone's TLS settings: flat in the <c>Phone</c> section (<c>Phone:TlsServerPin</c>,
    /// <c>Phone:TlsTargetHost</c>), where the terminal nests the same settings (<c>Terminal:Proxy:Tls:ServerPin</c>, <c>…:TargetHost</c>).
    /// The phone presents no client certificate.
    /// </summary>
    internal static readonly TlsClientSettingNames TlsSettingNames = new(
        $"{SectionName}:TlsServerPin", $"{SectionName}:TlsTargetHost", $"{SectionName}:TlsClientCertificatePath", $"{SectionName}:TlsClientPrivateKeyPath");

    /// <summary>Builds the client options, checking each setting.</summary>
    /// <exception cref="PhoneInputException">A setting is invalid; the message names it.</exception>
    public PhoneClientOptions ToClientOptions()
    {
        var proxy = ProxyEndpoint.Parse(Proxy, "--proxy / Phone:Proxy");
        var settings = new TlsClientOptions { ServerPin = TlsServerPin, TargetHost = TlsTargetHost };
        SslClientAuthenticationOptions? tls;
        CertificatePin? serverPin;
        try
        {
            settings.Validate(TlsSettingNames);
            serverPin = settings.ReadServerPin(TlsSettingNames);
            tls = settings.CreateClientOptions(proxy.Host, TlsSettingNames);
        }
        catch (ConfigurationException ex)
        {
            // The phone library's own error, for apps that embed it without the configuration stack.
            throw new PhoneInputException(PhoneInputError.InvalidSetting, ex.Setting, ex.Problem, ex);
        }

        var options = new PhoneClientOptions(proxy) { Tls = tls, ServerPin = serverPin, Insecure = Insecure, ConnectTimeout = ConnectTimeout, RequestTimeout = RequestTimeout };
        options.Validate();
        return options;
    }
}
