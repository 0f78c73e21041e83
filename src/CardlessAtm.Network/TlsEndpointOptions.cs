using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using CardlessAtm.Security;

namespace CardlessAtm.Network;

/// <summary>
/// TLS 1.3 on a listening side (host, proxy): the certificate and private key in PEM files, the pair
/// <c>cardless-atm keys tls</c> writes; optionally the pin of the client certificate to require (mutual TLS).
/// </summary>
public sealed class TlsListenerOptions
{
    /// <summary>The server certificate (PEM), as <c>cardless-atm keys tls</c> writes it.</summary>
    public string? CertificatePath { get; set; }

    /// <summary>The private key (PKCS#8 PEM, readable only by the owner).</summary>
    public string? PrivateKeyPath { get; set; }

    /// <summary>When set, clients must present a certificate with this pin.</summary>
    public string? ClientCertificatePin { get; set; }

    /// <summary>True when a certificate is configured (the listener runs TLS).</summary>
    public bool Enabled => !string.IsNullOrWhiteSpace(CertificatePath) || !string.IsNullOrWhiteSpace(PrivateKeyPath);

    /// <summary>The <see cref="SslServerAuthenticationOptions"/> to listen with, or null for plain TCP (neither path set).</summary>
    /// <param name="section">The configuration path of these settings, e.g. <c>Host:Tls</c>, for the error.</param>
    /// <exception cref="ConfigurationException">Only one of the two paths is set, a pin is malformed, or the pair cannot be loaded; <see cref="ConfigurationException.Setting"/> names the setting.</exception>
    public SslServerAuthenticationOptions? CreateServerOptions(string section = "Tls")
    {
        if (!Enabled)
        {
            return null;
        }

        if (string.IsNullOrWhiteSpace(CertificatePath) || string.IsNullOrWhiteSpace(PrivateKeyPath))
        {
            var missing = string.IsNullOrWhiteSpace(CertificatePath) ? "CertificatePath" : "PrivateKeyPath";
            throw new ConfigurationException($"{section}:{missing}", $"{section}:{missing} must be set together with the other (the certificate and its private key, as 'cardless-atm keys tls' writes them).");
        }

        CertificatePin? pin = null;
        if (!string.IsNullOrWhiteSpace(ClientCertificatePin))
        {
            try
            {
                pin = CertificatePin.Parse(ClientCertificatePin);
            }
            catch (FormatException e)
            {
                throw new ConfigurationException($"{section}:ClientCertificatePin", $"{section}:ClientCertificatePin: {e.Message}", e);
            }
        }

        X509Certificate2 certificate;
        try
        {
            certificate = LabCertificates.LoadPem(CertificatePath, PrivateKeyPath);
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

        return TlsSetup.ServerOptions(certificate, pin);
    }
}

/// <summary>
/// TLS 1.3 on a dialling side (terminal, phone): the pin of the server certificate to accept — nothing else
/// is trusted — and the name to ask for; optionally the client certificate to present (an ATM's certificate from the
/// network's ATM CA, which the proxy binds to the ATM id).
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
    /// reconnect. Returns the client certificate's subject, or null when none is configured.
    /// </summary>
    /// <param name="section">The configuration path of these settings, e.g. <c>Terminal:Proxy:Tls</c>.</param>
    /// <exception cref="ConfigurationException">A setting is wrong; <see cref="ConfigurationException.Setting"/> names it.</exception>
    public X509Certificate2? Validate(string section)
    {
        if (!string.IsNullOrWhiteSpace(ServerPin))
        {
            try
            {
                CertificatePin.Parse(ServerPin);
            }
            catch (FormatException e)
            {
                throw new ConfigurationException($"{section}:ServerPin", e.Message);
            }
        }

        var hasKey = !string.IsNullOrWhiteSpace(ClientPrivateKeyPath);
        if (HasClientCertificate != hasKey)
        {
            var missing = HasClientCertificate ? "ClientPrivateKeyPath" : "ClientCertificatePath";
            throw new ConfigurationException($"{section}:{missing}", $"{section}:{missing} must be set together with the other (client certificate and its private key).");
        }

        if (!HasClientCertificate)
        {
            return null;
        }

        if (!Enabled)
        {
            throw new ConfigurationException($"{section}:ServerPin", $"{section}:ServerPin must be set when a client certificate is: a client certificate needs TLS.");
        }

        return LoadClientCertificate(section);
    }

    /// <summary>The <see cref="SslClientAuthenticationOptions"/> to dial with, or null for plain TCP.</summary>
    /// <exception cref="FormatException">The pin is malformed.</exception>
    /// <exception cref="ConfigurationException">The client pair cannot be loaded.</exception>
    public SslClientAuthenticationOptions? CreateClientOptions(string address, string section = "Tls") =>
        string.IsNullOrWhiteSpace(ServerPin)
            ? null
            : TlsSetup.ClientOptions(TargetHost ?? address, CertificatePin.Parse(ServerPin), HasClientCertificate ? LoadClientCertificate(section) : null);

    private X509Certificate2 LoadClientCertificate(string section)
    {
        try
        {
            return LabCertificates.LoadPem(ClientCertificatePath!, ClientPrivateKeyPath!);
        }
        catch (SecurityException e)
        {
            throw new ConfigurationException($"{section}:ClientPrivateKeyPath", $"{section}:ClientPrivateKeyPath '{ClientPrivateKeyPath}': {e.Message}", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
        {
            throw new ConfigurationException(
                $"{section}:ClientCertificatePath",
                $"{section}:ClientCertificatePath: cannot load the client certificate '{ClientCertificatePath}' with its key '{ClientPrivateKeyPath}': {e.Message}",
                e);
        }
    }
}
