using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace CardlessAtm.Security;

/// <summary>
/// A pinned peer certificate: SHA-256 of its SubjectPublicKeyInfo (survives re-issuing with the same key)
/// or of the whole certificate (its SHA-256 thumbprint). Text form: <c>spki-sha256:BASE64</c> or
/// <c>cert-sha256:HEX</c>. Not secret.
/// </summary>
public sealed class CertificatePin
{
    private const string SpkiPrefix = "spki-sha256:";
    private const string CertPrefix = "cert-sha256:";
    private readonly byte[] _hash;
    private readonly bool _spki;

    private CertificatePin(byte[] hash, bool spki)
    {
        _hash = hash;
        _spki = spki;
    }

    /// <summary>The SPKI pin of <paramref name="certificate"/>.</summary>
    public static CertificatePin ForPublicKey(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return new CertificatePin(SHA256.HashData(certificate.PublicKey.ExportSubjectPublicKeyInfo()), spki: true);
    }

    /// <summary>The whole-certificate (thumbprint) pin of <paramref name="certificate"/>.</summary>
    public static CertificatePin ForCertificate(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return new CertificatePin(SHA256.HashData(certificate.RawData), spki: false);
    }

    /// <summary>Parses <c>spki-sha256:BASE64</c> or <c>cert-sha256:HEX</c>.</summary>
    /// <exception cref="FormatException">Anything else; the message shows the accepted forms.</exception>
    public static CertificatePin Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        try
        {
            if (text.StartsWith(SpkiPrefix, StringComparison.OrdinalIgnoreCase))
            {
                var hash = Convert.FromBase64String(text[SpkiPrefix.Length..]);
                if (hash.Length == 32)
                {
                    return new CertificatePin(hash, spki: true);
                }
            }
            else if (text.StartsWith(CertPrefix, StringComparison.OrdinalIgnoreCase))
            {
                var hash = Convert.FromHexString(text[CertPrefix.Length..].Replace(":", string.Empty, StringComparison.Ordinal));
                if (hash.Length == 32)
                {
                    return new CertificatePin(hash, spki: false);
                }
            }
        }
        catch (FormatException)
        {
            // fall through to the uniform message below
        }

        throw new FormatException($"Certificate pin '{text}' is not 'spki-sha256:<base64 of 32 bytes>' or 'cert-sha256:<64 hex digits>'.");
    }

    /// <summary>True when <paramref name="certificate"/> matches this pin.</summary>
    public bool Matches(X509Certificate? certificate)
    {
        if (certificate is null)
        {
            return false;
        }

        using var cert = new X509Certificate2(certificate);
        var actual = _spki ? SHA256.HashData(cert.PublicKey.ExportSubjectPublicKeyInfo()) : SHA256.HashData(cert.RawData);
        return CryptographicOperations.FixedTimeEquals(actual, _hash);
    }

    /// <summary>The text form.</summary>
    public override string ToString() => _spki ? SpkiPrefix + Convert.ToBase64String(_hash) : CertPrefix + Convert.ToHexString(_hash);
}

/// <summary>
/// <see cref="SslStream"/> options for our links: TLS 1.3 only, the peer authenticated by a pinned
/// certificate rather than by a CA (a lab or bank network runs its own). A pinned certificate is accepted
/// even though it is self-signed or its name differs from the host name dialled, because the pin is the
/// stronger statement; an unpinned certificate is refused even if a public CA signed it.
/// </summary>
public static class TlsSetup
{
    /// <summary>Server side: present <paramref name="serverCertificate"/>; when <paramref name="clientPin"/> is given, require a client certificate matching it (mutual TLS).</summary>
    public static SslServerAuthenticationOptions ServerOptions(X509Certificate2 serverCertificate, CertificatePin? clientPin = null)
    {
        ArgumentNullException.ThrowIfNull(serverCertificate);
        return new SslServerAuthenticationOptions
        {
            ServerCertificate = serverCertificate,
            ServerCertificateContext = CertificateContext(serverCertificate),
            EnabledSslProtocols = SslProtocols.Tls13,
            ClientCertificateRequired = clientPin is not null,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            CertificateChainPolicy = clientPin is null ? null : PinnedChainPolicy(),
            RemoteCertificateValidationCallback = clientPin is null ? null : (_, cert, _, errors) => PinAccepts(clientPin, cert, errors),
        };
    }

    /// <summary>
    /// The server certificate as a context built once, offline (no intermediate downloads). Given only
    /// <see cref="SslServerAuthenticationOptions.ServerCertificate"/>, SslStream builds a new context — an X509 chain over
    /// the system trust store — on every handshake; the bench's profile showed that chain (X509_NAME_cmp, msort) among the
    /// largest costs of a phone's one-connection-per-withdrawal. One context per listener also lets OpenSSL reuse its
    /// SSL_CTX. Nothing about what is accepted changes: the certificate presented is the same.
    /// </summary>
    public static SslStreamCertificateContext CertificateContext(X509Certificate serverCertificate)
    {
        ArgumentNullException.ThrowIfNull(serverCertificate);
        var certificate = serverCertificate as X509Certificate2 ?? throw new ArgumentException("The server certificate must carry its private key (an X509Certificate2).", nameof(serverCertificate));
        return SslStreamCertificateContext.Create(certificate, additionalCertificates: null, offline: true);
    }

    /// <summary>
    /// The chain policy of a pinned peer: the peer is accepted by its pin alone (<see cref="PinAccepts"/> ignores chain
    /// errors), so the chain the TLS library still builds need not search the system trust store (which it otherwise copies
    /// and sorts on every handshake) nor fetch anything: it is built against an empty custom root store, offline.
    /// </summary>
    private static X509ChainPolicy PinnedChainPolicy() => new()
    {
        RevocationMode = X509RevocationMode.NoCheck,
        TrustMode = X509ChainTrustMode.CustomRootTrust,
        DisableCertificateDownloads = true,
    };

    /// <summary>Client side: accept only a server certificate matching <paramref name="serverPin"/>; optionally present a client certificate.</summary>
    public static SslClientAuthenticationOptions ClientOptions(string targetHost, CertificatePin serverPin, X509Certificate2? clientCertificate = null)
    {
        ArgumentNullException.ThrowIfNull(serverPin);
        return new SslClientAuthenticationOptions
        {
            TargetHost = targetHost,
            EnabledSslProtocols = SslProtocols.Tls13,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            ClientCertificates = clientCertificate is null ? null : new X509CertificateCollection { clientCertificate },
            CertificateChainPolicy = PinnedChainPolicy(),
            RemoteCertificateValidationCallback = (_, cert, _, errors) => PinAccepts(serverPin, cert, errors),
        };
    }

    /// <summary>
    /// One line saying how a dialled link is secured, from its negotiated session: <c>TLS 1.3, server pinned spki-sha256:…</c>
    /// when <paramref name="peerCertificate"/> (the certificate the handshake accepted) matches <paramref name="pin"/>, or
    /// <c>plain TCP</c>. Nothing secret: a pin is a hash of a public key.
    /// </summary>
    /// <param name="protocol">The negotiated protocol (<see cref="SslStream.SslProtocol"/>), or null on plain TCP.</param>
    /// <param name="peerCertificate">The server certificate of the session.</param>
    /// <param name="pin">The pin the link is configured with.</param>
    public static string DescribeSession(SslProtocols? protocol, X509Certificate? peerCertificate, CertificatePin? pin)
    {
        if (protocol is not { } negotiated || negotiated == SslProtocols.None)
        {
            return "plain TCP";
        }

        var name = negotiated switch
        {
            SslProtocols.Tls13 => "TLS 1.3",
            SslProtocols.Tls12 => "TLS 1.2",
            _ => negotiated.ToString(),
        };
        if (pin is null)
        {
            return name + ", server certificate NOT pinned";
        }

        return pin.Matches(peerCertificate) ? $"{name}, server pinned {pin}" : $"{name}, server certificate does NOT match the pin {pin}";
    }

    private static bool PinAccepts(CertificatePin pin, X509Certificate? certificate, SslPolicyErrors errors) =>
        (errors & SslPolicyErrors.RemoteCertificateNotAvailable) == 0 && pin.Matches(certificate);
}

/// <summary>Self-signed certificate pairs for a lab (<c>cardless-atm keys tls …</c>).</summary>
public static class LabCertificates
{
    /// <summary>Creates a self-signed ECDSA P-256 certificate for <paramref name="commonName"/>, valid from now for <paramref name="validity"/>.</summary>
    public static X509Certificate2 CreateSelfSigned(string commonName, TimeProvider timeProvider, TimeSpan validity)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(commonName);
        ArgumentNullException.ThrowIfNull(timeProvider);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName($"CN={commonName}"), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            new OidCollection { new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2") }, false));
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(commonName);
        san.AddDnsName("localhost");
        san.AddIpAddress(System.Net.IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        var now = timeProvider.GetUtcNow();
        return request.CreateSelfSigned(now.AddMinutes(-5), now + validity);
    }

    /// <summary>
    /// Writes the certificate (PEM, mode 0644) and its private key (PKCS#8 PEM, mode 0600, in a directory made 0700
    /// when missing) and returns the SPKI pin to give the peer.
    /// </summary>
    /// <exception cref="KeyFileRejectedException">The key's directory exists and group or others can access it.</exception>
    public static CertificatePin WritePem(X509Certificate2 certificate, string certificatePath, string privateKeyPath)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        using var key = certificate.GetECDsaPrivateKey() ?? throw new ArgumentException("Certificate has no ECDSA private key.", nameof(certificate));
        var keyPem = key.ExportPkcs8PrivateKeyPem();
        FileKeyStore.CreatePrivateDirectory(Path.GetDirectoryName(Path.GetFullPath(privateKeyPath))!);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using (var writer = new StreamWriter(privateKeyPath, options))
        {
            writer.Write(keyPem);
        }

        File.WriteAllText(certificatePath, certificate.ExportCertificatePem());
        return CertificatePin.ForPublicKey(certificate);
    }

    /// <summary>Loads a certificate and its private key written by <see cref="WritePem"/>, refusing a key file others can read.</summary>
    public static X509Certificate2 LoadPem(string certificatePath, string privateKeyPath)
    {
        FileKeyStore.CheckPermissions(privateKeyPath);
        using var pemCert = X509Certificate2.CreateFromPemFile(certificatePath, privateKeyPath);
        // Re-import so that SslStream on Linux gets a certificate whose key is usable for the handshake.
        return X509CertificateLoader.LoadPkcs12(pemCert.Export(X509ContentType.Pkcs12), null);
    }
}
