using System.Net.Security;
using CardlessAtm.Security;

namespace CardlessAtm.Network;

/// <summary>
/// TLS 1.3 on a listening side (host, proxy): the certificate and private key in PEM files, the pair
/// <c>cardless-atm keys tls</c> writes; optionally the pin of the client certificate to require (mutual TLS).
/// </summary>
public sealed class TlsListenerOptions
{
    /// <summary>The server certificate (PEM). Unset: plain TCP.</summary>
    public string? CertificatePath { get; set; }

    /// <summary>The private key (PKCS#8 PEM, readable only by the owner).</summary>
    public string? PrivateKeyPath { get; set; }

    /// <summary>When set, clients must present a certificate with this pin.</summary>
    public string? ClientCertificatePin { get; set; }

    /// <summary>The <see cref="SslServerAuthenticationOptions"/> to listen with, or null for plain TCP.</summary>
    /// <exception cref="ArgumentException">Only one of the two paths is set, or a pin is malformed.</exception>
    public SslServerAuthenticationOptions? CreateServerOptions()
    {
        if (string.IsNullOrWhiteSpace(CertificatePath) && string.IsNullOrWhiteSpace(PrivateKeyPath))
        {
            return null;
        }

        if (string.IsNullOrWhiteSpace(CertificatePath) || string.IsNullOrWhiteSpace(PrivateKeyPath))
        {
            throw new ArgumentException("Tls: set both CertificatePath and PrivateKeyPath (or neither, for plain TCP).");
        }

        FileKeyStore.CheckPermissions(PrivateKeyPath);
        var certificate = LabCertificates.LoadPem(CertificatePath, PrivateKeyPath);
        return TlsSetup.ServerOptions(certificate, string.IsNullOrWhiteSpace(ClientCertificatePin) ? null : CertificatePin.Parse(ClientCertificatePin));
    }
}

/// <summary>
/// TLS 1.3 on a dialling side (terminal, phone): the pin of the server certificate to accept — nothing else
/// is trusted — and the name to ask for.
/// </summary>
public sealed class TlsClientOptions
{
    /// <summary>The server certificate's pin (as <c>cardless-atm keys tls</c> prints it). Unset: plain TCP.</summary>
    public string? ServerPin { get; set; }

    /// <summary>The name sent in the TLS handshake (SNI); default the address dialled.</summary>
    public string? TargetHost { get; set; }

    /// <summary>The <see cref="SslClientAuthenticationOptions"/> to dial with, or null for plain TCP.</summary>
    /// <exception cref="FormatException">The pin is malformed.</exception>
    public SslClientAuthenticationOptions? CreateClientOptions(string address) =>
        string.IsNullOrWhiteSpace(ServerPin) ? null : TlsSetup.ClientOptions(TargetHost ?? address, CertificatePin.Parse(ServerPin));
}
