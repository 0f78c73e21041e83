using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace CardlessAtm.Security;

/// <summary>
/// The network's ATM certificate authority and the client certificates it issues, one per ATM (mutual TLS on the
/// proxy's ATM port). An ATM certificate names its ATM id as the subject's only common name (<c>CN=ATM00001</c>);
/// the proxy binds the sign-on's field 41 to it. Everything here is .NET's X.509 API; nothing is hand-written crypto.
/// </summary>
public static class AtmCertificates
{
    /// <summary>The TLS client authentication extended key usage (id-kp-clientAuth).</summary>
    public const string ClientAuthenticationOid = "1.3.6.1.5.5.7.3.2";

    private const string CommonNameOid = "2.5.4.3";

    /// <summary>
    /// Creates a self-signed ECDSA P-256 CA certificate (basic constraints CA, path length 0: it signs ATM certificates
    /// only), valid from now for <paramref name="validity"/>.
    /// </summary>
    public static X509Certificate2 CreateAuthority(string name, TimeProvider timeProvider, TimeSpan validity)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(timeProvider);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(SubjectOf(name), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var now = timeProvider.GetUtcNow();
        return request.CreateSelfSigned(now.AddMinutes(-5), now + validity);
    }

    /// <summary>
    /// Issues a client certificate for <paramref name="atmId"/> (subject <c>CN=atmId</c>, client authentication only,
    /// a random 128-bit serial) signed by <paramref name="authority"/>, with its new ECDSA P-256 private key attached.
    /// The validity ends no later than the authority's.
    /// </summary>
    /// <exception cref="ArgumentException">The authority has no private key or is not a CA.</exception>
    public static X509Certificate2 IssueAtmCertificate(X509Certificate2 authority, string atmId, TimeProvider timeProvider, TimeSpan validity)
    {
        ArgumentNullException.ThrowIfNull(authority);
        ArgumentException.ThrowIfNullOrWhiteSpace(atmId);
        ArgumentNullException.ThrowIfNull(timeProvider);
        if (!authority.HasPrivateKey)
        {
            throw new ArgumentException("The ATM CA certificate has no private key loaded; issuing needs the CA key.", nameof(authority));
        }

        if (authority.Extensions[Oids.BasicConstraints] is not X509BasicConstraintsExtension { CertificateAuthority: true })
        {
            throw new ArgumentException("The certificate given as the ATM CA is not a CA certificate.", nameof(authority));
        }

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(SubjectOf(atmId), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(new OidCollection { new Oid(ClientAuthenticationOid) }, false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(authority, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        var now = timeProvider.GetUtcNow();
        var notAfter = now + validity;
        if (notAfter > authority.NotAfter.ToUniversalTime())
        {
            notAfter = authority.NotAfter.ToUniversalTime();
        }

        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] = (byte)((serial[0] & 0x7F) | 0x40); // a positive INTEGER with no leading zero byte
        using var issued = request.Create(authority, now.AddMinutes(-5), notAfter, serial);
        return issued.CopyWithPrivateKey(key);
    }

    /// <summary>
    /// The ATM id a certificate names: the value of its subject's common name when the subject has exactly one CN.
    /// Null when it has none or several (a certificate that could be read two ways names no one). The caller checks
    /// the id's format.
    /// </summary>
    public static string? ReadAtmId(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        string? found = null;
        foreach (var rdn in certificate.SubjectName.EnumerateRelativeDistinguishedNames(reversed: false))
        {
            if (rdn.HasMultipleElements)
            {
                return null;
            }

            if (rdn.GetSingleElementType().Value != CommonNameOid)
            {
                continue;
            }

            if (found is not null)
            {
                return null;
            }

            found = rdn.GetSingleElementValue();
            if (found is null)
            {
                return null;
            }
        }

        return found;
    }

    /// <summary>Writes a CA certificate (PEM, 0644) and its key (PKCS#8 PEM, 0600); refuses to overwrite either.</summary>
    public static void WriteAuthority(X509Certificate2 authority, string certificatePath, string privateKeyPath) =>
        LabCertificates.WritePem(authority, certificatePath, privateKeyPath);

    /// <summary>The certificate's serial number as the deny list writes it (<c>serial:HEX</c>, big-endian).</summary>
    public static string SerialText(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return CertificateDenyList.SerialPrefix + certificate.SerialNumber;
    }

    private static X500DistinguishedName SubjectOf(string commonName)
    {
        var builder = new X500DistinguishedNameBuilder();
        builder.AddCommonName(commonName);
        return builder.Build();
    }

    private static class Oids
    {
        public const string BasicConstraints = "2.5.29.19";
    }
}
