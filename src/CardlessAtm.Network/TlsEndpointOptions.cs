using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using CardlessAtm.Security;
using Microsoft.Extensions.Logging;

namespace CardlessAtm.Network;

/// <summary>
/// TLS 1.3 on a listening side (host, both proxy ports): the certificate and private key in PEM files, the pair
/// <c>cardless-atm keys tls</c> writes; optionally the pin of the client certificate to require (mutual TLS), or — on the
/// proxy's ATM port — the ATM CA that issues every ATM's certificate and a deny list of revoked ones. The one type and
/// the one loader for every listener; the caller passes the configuration path (<c>Host:Tls</c>, <c>Proxy:Atm:Tls</c>,
/// <c>Proxy:Phone:Tls</c>) so that each error names the full setting.
/// </summary>
public sealed class TlsListenerOptions
{
    /// <summary>The server certificate (PEM), as <c>cardless-atm keys tls</c> writes it. Setting it turns TLS on.</summary>
    public string? CertificatePath { get; set; }

    /// <summary>The private key (PKCS#8 PEM, readable only by the owner).</summary>
    public string? PrivateKeyPath { get; set; }

    /// <summary>When set, clients must present a certificate matching this pin (<c>spki-sha256:…</c> or <c>cert-sha256:…</c>).</summary>
    public string? ClientCertificatePin { get; set; }

    /// <summary>
    /// The pinned CA of client certificates (PEM, as <c>cardless-atm keys tls-ca</c> writes it); only a listener that binds
    /// client certificates to ATM ids (the proxy's ATM port) accepts it. Setting it requires every client to present a
    /// certificate issued directly by this CA (chain built against it alone, never the system store).
    /// </summary>
    public string? ClientCaCertificatePath { get; set; }

    /// <summary>
    /// A deny list of revoked client certificates (lines <c>serial:HEX</c> or <c>cert-sha256:HEX</c>), re-read whenever the
    /// file changes, without a restart. Optional; needs <see cref="ClientCaCertificatePath"/>.
    /// </summary>
    public string? DenyListPath { get; set; }

    /// <summary>Ready-made server options (in-process use, e.g. the demo and tests); takes precedence over the paths. Not meant for configuration.</summary>
    public SslServerAuthenticationOptions? ServerAuthentication { get; set; }

    /// <summary>True when a certificate is configured (the listener runs TLS).</summary>
    public bool Enabled => ServerAuthentication is not null || !string.IsNullOrWhiteSpace(CertificatePath) || !string.IsNullOrWhiteSpace(PrivateKeyPath);

    /// <summary>True when client certificates are checked against a CA (<see cref="ClientCaCertificatePath"/>).</summary>
    public bool HasClientAuthority => !string.IsNullOrWhiteSpace(ClientCaCertificatePath);

    /// <summary>Checks the certificate pair and the client pin without reading a file.</summary>
    /// <param name="section">The configuration path of these settings, e.g. <c>Host:Tls</c>, for the error.</param>
    /// <exception cref="ConfigurationException">Only one of the two paths is set, or a pin is set without TLS or is malformed; <see cref="ConfigurationException.Setting"/> names the setting.</exception>
    public void Validate(string section)
    {
        if (ServerAuthentication is not null)
        {
            return;
        }

        var hasCert = !string.IsNullOrWhiteSpace(CertificatePath);
        if (hasCert != !string.IsNullOrWhiteSpace(PrivateKeyPath))
        {
            var missing = hasCert ? "PrivateKeyPath" : "CertificatePath";
            throw new ConfigurationException($"{section}:{missing}", $"{section}:{missing} must be set together with the other (the certificate and its private key, as 'cardless-atm keys tls' writes them).");
        }

        if (!string.IsNullOrWhiteSpace(ClientCertificatePin) && !hasCert)
        {
            throw new ConfigurationException($"{section}:ClientCertificatePin", $"{section}:ClientCertificatePin needs TLS: set CertificatePath and PrivateKeyPath too.");
        }

        _ = ReadClientPin(section);
    }

    /// <summary>Checks the client CA settings (<see cref="ClientCaCertificatePath"/>, <see cref="DenyListPath"/>) without reading a file.</summary>
    /// <param name="section">The configuration path of these settings, e.g. <c>Proxy:Atm:Tls</c>.</param>
    /// <exception cref="ConfigurationException">The CA is set without TLS or with a client pin, or a deny list without a CA.</exception>
    public void ValidateClientAuthority(string section)
    {
        Require(!HasClientAuthority || Enabled, $"{section}:CertificatePath", $"must be set (with PrivateKeyPath) when {section}:ClientCaCertificatePath is: ATM certificates need TLS");
        Require(!HasClientAuthority || string.IsNullOrWhiteSpace(ClientCertificatePin), $"{section}:ClientCertificatePin", "cannot be combined with ClientCaCertificatePath (each ATM has its own certificate from the CA)");
        Require(!HasClientAuthority || ServerAuthentication is null || ServerAuthentication.ServerCertificate is not null, $"{section}:ServerAuthentication", "must carry a ServerCertificate when ClientCaCertificatePath is set");
        Require(HasClientAuthority || string.IsNullOrWhiteSpace(DenyListPath), $"{section}:DenyListPath", "needs ClientCaCertificatePath: it revokes ATM certificates");
    }

    /// <summary>
    /// The <see cref="SslServerAuthenticationOptions"/> to listen with (<see cref="ServerAuthentication"/> when set), or null
    /// for plain TCP (neither path set). For a listener without a client CA: with one, use <see cref="LoadClientAuthority"/>
    /// and <see cref="LoadServerCertificate"/>.
    /// </summary>
    /// <param name="section">The configuration path of these settings, e.g. <c>Host:Tls</c>, for the error.</param>
    /// <exception cref="ConfigurationException">A setting is invalid (see <see cref="Validate"/>), a client CA is set, or the pair cannot be loaded; <see cref="ConfigurationException.Setting"/> names the setting.</exception>
    public SslServerAuthenticationOptions? CreateServerOptions(string section = "Tls")
    {
        Validate(section);
        if (HasClientAuthority || !string.IsNullOrWhiteSpace(DenyListPath))
        {
            var setting = HasClientAuthority ? "ClientCaCertificatePath" : "DenyListPath";
            throw new ConfigurationException($"{section}:{setting}", $"{section}:{setting} is not supported on this listener (only the proxy's ATM port binds client certificates to ATM ids); use ClientCertificatePin to require one client certificate.");
        }

        if (ServerAuthentication is { } ready)
        {
            return ready;
        }

        return Enabled ? TlsSetup.ServerOptions(LoadServerCertificate(section), ReadClientPin(section)) : null;
    }

    /// <summary>Loads the server certificate with its private key; the caller owns (disposes) it.</summary>
    /// <param name="section">The configuration path of these settings, for the error.</param>
    /// <exception cref="ConfigurationException">A path is not set, the key file is readable by others, or the pair cannot be loaded.</exception>
    public X509Certificate2 LoadServerCertificate(string section)
    {
        Validate(section);
        if (string.IsNullOrWhiteSpace(CertificatePath))
        {
            throw new ConfigurationException($"{section}:CertificatePath", $"{section}:CertificatePath must be set (with PrivateKeyPath): the listener's TLS certificate.");
        }

        if (!File.Exists(CertificatePath))
        {
            // Checked first: the key's own check would otherwise blame PrivateKeyPath for a certificate that is not there.
            throw new ConfigurationException($"{section}:CertificatePath", $"{section}:CertificatePath: the certificate '{CertificatePath}' does not exist (make it with 'cardless-atm keys tls').");
        }

        try
        {
            return LabCertificates.LoadPem(CertificatePath, PrivateKeyPath!);
        }
        catch (SecurityException e)
        {
            throw new ConfigurationException($"{section}:PrivateKeyPath", $"{section}:PrivateKeyPath '{PrivateKeyPath}': {e.Message}", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
        {
            throw new ConfigurationException(
                $"{section}:CertificatePath",
                $"{section}:CertificatePath: cannot load the certificate '{CertificatePath}' with its key '{PrivateKeyPath}': {e.Message}",
                e);
        }
    }

    /// <summary>
    /// Loads the client CA (and the deny list, when set) into a validator that accepts only certificates the CA issued
    /// directly and binds each to the ATM id it names; null when <see cref="ClientCaCertificatePath"/> is not set.
    /// </summary>
    /// <param name="section">The configuration path of these settings, e.g. <c>Proxy:Atm:Tls</c>.</param>
    /// <param name="time">The clock for certificate validity and deny-list reloads.</param>
    /// <param name="logger">Where the validator logs refusals.</param>
    /// <exception cref="ConfigurationException">The CA cannot be read or is not a CA, or the deny list cannot be read.</exception>
    public AtmClientCertificateValidator? LoadClientAuthority(string section, TimeProvider time, ILogger logger)
    {
        if (!HasClientAuthority)
        {
            return null;
        }

        ValidateClientAuthority(section);
        X509Certificate2 authority;
        try
        {
            authority = X509Certificate2.CreateFromPem(File.ReadAllText(ClientCaCertificatePath!));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
        {
            throw new ConfigurationException(
                $"{section}:ClientCaCertificatePath",
                $"{section}:ClientCaCertificatePath: cannot load the ATM CA certificate '{ClientCaCertificatePath}': {e.Message}",
                e);
        }

        using (authority)
        {
            if (authority.Extensions["2.5.29.19"] is not X509BasicConstraintsExtension { CertificateAuthority: true })
            {
                throw new ConfigurationException(
                    $"{section}:ClientCaCertificatePath",
                    $"{section}:ClientCaCertificatePath: '{ClientCaCertificatePath}' is not a CA certificate (make one with 'cardless-atm keys tls-ca').");
            }

            CertificateDenyList? denyList = null;
            if (!string.IsNullOrWhiteSpace(DenyListPath))
            {
                try
                {
                    denyList = CertificateDenyList.Load(DenyListPath);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
                {
                    throw new ConfigurationException($"{section}:DenyListPath", $"{section}:DenyListPath: {e.Message}", e);
                }
            }

            return new AtmClientCertificateValidator(authority, denyList, time, logger);
        }
    }

    private CertificatePin? ReadClientPin(string section)
    {
        if (string.IsNullOrWhiteSpace(ClientCertificatePin))
        {
            return null;
        }

        try
        {
            return CertificatePin.Parse(ClientCertificatePin);
        }
        catch (FormatException e)
        {
            throw new ConfigurationException($"{section}:ClientCertificatePin", $"{section}:ClientCertificatePin: {e.Message}", e);
        }
    }

    private static void Require(bool condition, string setting, string rule)
    {
        if (!condition)
        {
            throw new ConfigurationException(setting, $"{setting} {rule}.");
        }
    }
}

/// <summary>
/// The configuration keys of one <see cref="TlsClientOptions"/>, for errors that name the setting at fault. Most roles nest
/// them in a section (<see cref="Under"/>: <c>Terminal:Host:Tls:ServerPin</c>); the phone's settings file has them flat
/// (<c>Phone:TlsServerPin</c>, <c>Phone:TlsTargetHost</c>).
/// </summary>
/// <param name="ServerPin">The key of <see cref="TlsClientOptions.ServerPin"/>.</param>
/// <param name="TargetHost">The key of <see cref="TlsClientOptions.TargetHost"/>.</param>
/// <param name="ClientCertificatePath">The key of <see cref="TlsClientOptions.ClientCertificatePath"/>.</param>
/// <param name="ClientPrivateKeyPath">The key of <see cref="TlsClientOptions.ClientPrivateKeyPath"/>.</param>
public sealed record TlsClientSettingNames(string ServerPin, string TargetHost, string ClientCertificatePath, string ClientPrivateKeyPath)
{
    /// <summary>The keys nested in <paramref name="section"/>: <c>{section}:ServerPin</c>, <c>{section}:TargetHost</c>, …</summary>
    public static TlsClientSettingNames Under(string section) =>
        new($"{section}:ServerPin", $"{section}:TargetHost", $"{section}:ClientCertificatePath", $"{section}:ClientPrivateKeyPath");
}

/// <summary>
/// TLS 1.3 on a dialling side (terminal to host and proxy, phone to proxy): the pin of the server certificate to accept —
/// nothing else is trusted — and the name to ask for; optionally the client certificate to present (an ATM's certificate
/// from the network's ATM CA, which the proxy binds to the ATM id). The one type and the one loader for every client.
/// </summary>
public sealed class TlsClientOptions
{
    /// <summary>The server certificate's pin (as <c>cardless-atm keys tls</c> prints it). Unset: plain TCP.</summary>
    public string? ServerPin { get; set; }

    /// <summary>The name sent in the TLS handshake (SNI); default the address dialled.</summary>
    public string? TargetHost { get; set; }

    /// <summary>The client certificate to present (PEM, as <c>cardless-atm keys tls-client</c> writes it). Unset: none.</summary>
    public string? ClientCertificatePath { get; set; }

    /// <summary>The client certificate's private key (PKCS#8 PEM, readable only by the service user).</summary>
    public string? ClientPrivateKeyPath { get; set; }

    /// <summary>True when the link runs TLS.</summary>
    public bool Enabled => !string.IsNullOrWhiteSpace(ServerPin);

    /// <summary>True when a client certificate is configured.</summary>
    public bool HasClientCertificate => !string.IsNullOrWhiteSpace(ClientCertificatePath);

    /// <summary>
    /// Checks the settings and loads the client pair once, so that a bad file stops start-up rather than every
    /// reconnect. Returns the client certificate (the caller disposes it), or null when none is configured.
    /// </summary>
    /// <param name="section">The configuration path of these settings, e.g. <c>Terminal:Proxy:Tls</c>.</param>
    /// <exception cref="ConfigurationException">A setting is wrong; <see cref="ConfigurationException.Setting"/> names it.</exception>
    public X509Certificate2? Validate(string section) => Validate(TlsClientSettingNames.Under(section));

    /// <summary>As <see cref="Validate(string)"/>, with the configuration key of each setting given.</summary>
    /// <exception cref="ConfigurationException">A setting is wrong; <see cref="ConfigurationException.Setting"/> names it.</exception>
    public X509Certificate2? Validate(TlsClientSettingNames names)
    {
        ArgumentNullException.ThrowIfNull(names);
        _ = ReadServerPin(names);
        var hasKey = !string.IsNullOrWhiteSpace(ClientPrivateKeyPath);
        if (HasClientCertificate != hasKey)
        {
            var missing = HasClientCertificate ? names.ClientPrivateKeyPath : names.ClientCertificatePath;
            var other = HasClientCertificate ? names.ClientCertificatePath : names.ClientPrivateKeyPath;
            throw new ConfigurationException(missing, $"{missing} must be set together with {other} (client certificate and its private key).");
        }

        if (!HasClientCertificate)
        {
            return null;
        }

        if (!Enabled)
        {
            throw new ConfigurationException(names.ServerPin, $"{names.ServerPin} must be set when a client certificate is: a client certificate needs TLS.");
        }

        return LoadClientCertificate(names);
    }

    /// <summary>The parsed <see cref="ServerPin"/>, or null when unset (plain TCP).</summary>
    /// <exception cref="ConfigurationException">The pin is malformed; the error names <see cref="TlsClientSettingNames.ServerPin"/>.</exception>
    public CertificatePin? ReadServerPin(TlsClientSettingNames names)
    {
        ArgumentNullException.ThrowIfNull(names);
        if (string.IsNullOrWhiteSpace(ServerPin))
        {
            return null;
        }

        try
        {
            return CertificatePin.Parse(ServerPin);
        }
        catch (FormatException e)
        {
            throw new ConfigurationException(names.ServerPin, e.Message, e);
        }
    }

    /// <summary>The <see cref="SslClientAuthenticationOptions"/> to dial with, or null for plain TCP.</summary>
    /// <param name="address">The address dialled: the TLS server name unless <see cref="TargetHost"/> is set.</param>
    /// <param name="section">The configuration path of these settings, for the error.</param>
    /// <exception cref="ConfigurationException">The pin is malformed or the client pair cannot be loaded.</exception>
    public SslClientAuthenticationOptions? CreateClientOptions(string address, string section = "Tls") => CreateClientOptions(address, TlsClientSettingNames.Under(section));

    /// <summary>As <see cref="CreateClientOptions(string, string)"/>, with the configuration key of each setting given.</summary>
    /// <exception cref="ConfigurationException">The pin is malformed or the client pair cannot be loaded.</exception>
    public SslClientAuthenticationOptions? CreateClientOptions(string address, TlsClientSettingNames names) =>
        ReadServerPin(names) is not { } pin
            ? null
            : TlsSetup.ClientOptions(string.IsNullOrWhiteSpace(TargetHost) ? address : TargetHost, pin, HasClientCertificate ? LoadClientCertificate(names) : null);

    private X509Certificate2 LoadClientCertificate(TlsClientSettingNames names)
    {
        try
        {
            return LabCertificates.LoadPem(ClientCertificatePath!, ClientPrivateKeyPath!);
        }
        catch (SecurityException e)
        {
            throw new ConfigurationException(names.ClientPrivateKeyPath, $"{names.ClientPrivateKeyPath} '{ClientPrivateKeyPath}': {e.Message}", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
        {
            throw new ConfigurationException(
                names.ClientCertificatePath,
                $"{names.ClientCertificatePath}: cannot load the client certificate '{ClientCertificatePath}' with its key '{ClientPrivateKeyPath}': {e.Message}",
                e);
        }
    }
}
