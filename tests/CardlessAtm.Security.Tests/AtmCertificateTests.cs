using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Time.Testing;

namespace CardlessAtm.Security.Tests;

/// <summary>The ATM CA, the certificates it issues and the validator the proxy's ATM port uses.</summary>
public sealed class AtmCertificateTests
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 25, 12, 0, 0, TimeSpan.Zero));

    [Fact]
    public void An_issued_certificate_names_its_ATM_and_passes_while_valid_and_fails_once_expired()
    {
        using var authority = AtmCertificates.CreateAuthority("Test ATM CA", _time, TimeSpan.FromDays(30));
        using var issued = AtmCertificates.IssueAtmCertificate(authority, "ATM00001", _time, TimeSpan.FromDays(7));
        using var validator = new AtmClientCertificateValidator(authority, denyList: null, _time);

        Assert.Equal("ATM00001", AtmCertificates.ReadAtmId(issued));
        Assert.True(validator.Check(issued) is { Accepted: true, AtmId: "ATM00001" });

        _time.Advance(TimeSpan.FromDays(8));
        var expired = validator.Check(issued);
        Assert.False(expired.Accepted);
        Assert.Contains("pinned ATM CA", expired.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void A_certificate_from_another_CA_a_self_signed_one_or_one_without_client_authentication_is_refused()
    {
        using var authority = AtmCertificates.CreateAuthority("Test ATM CA", _time, TimeSpan.FromDays(30));
        using var stranger = AtmCertificates.CreateAuthority("Test ATM CA", _time, TimeSpan.FromDays(30));
        using var fromStranger = AtmCertificates.IssueAtmCertificate(stranger, "ATM00001", _time, TimeSpan.FromDays(7));
        using var selfSigned = LabCertificates.CreateSelfSigned("ATM00001", _time, TimeSpan.FromDays(7));
        using var serverOnly = Issue(authority, "CN=ATM00001", "1.3.6.1.5.5.7.3.1");
        using var validator = new AtmClientCertificateValidator(authority, denyList: null, _time);

        Assert.False(validator.Check(fromStranger).Accepted);
        Assert.False(validator.Check(selfSigned).Accepted);
        Assert.False(validator.Check(serverOnly).Accepted);
        Assert.False(validator.Check(null).Accepted);
    }

    [Fact]
    public void A_subject_with_two_common_names_names_no_ATM()
    {
        using var authority = AtmCertificates.CreateAuthority("Test ATM CA", _time, TimeSpan.FromDays(30));
        using var ambiguous = Issue(authority, "CN=ATM00001, CN=ATM00002", AtmCertificates.ClientAuthenticationOid);
        using var validator = new AtmClientCertificateValidator(authority, denyList: null, _time);

        Assert.Null(AtmCertificates.ReadAtmId(ambiguous));
        Assert.False(validator.Check(ambiguous).Accepted);
    }

    [Fact]
    public void Issuing_needs_a_CA_with_its_private_key()
    {
        using var authority = AtmCertificates.CreateAuthority("Test ATM CA", _time, TimeSpan.FromDays(30));
        using var publicOnly = X509CertificateLoader.LoadCertificate(authority.RawData);
        using var notACa = LabCertificates.CreateSelfSigned("proxy.test", _time, TimeSpan.FromDays(1));

        Assert.Throws<ArgumentException>(() => AtmCertificates.IssueAtmCertificate(publicOnly, "ATM00001", _time, TimeSpan.FromDays(1)));
        Assert.Throws<ArgumentException>(() => AtmCertificates.IssueAtmCertificate(notACa, "ATM00001", _time, TimeSpan.FromDays(1)));
    }

    private X509Certificate2 Issue(X509Certificate2 authority, string subject, string usage)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(new OidCollection { new Oid(usage) }, false));
        var now = _time.GetUtcNow();
        using var issued = request.Create(authority, now.AddMinutes(-5), now.AddDays(7), [0x41, 0x02, 0x03, 0x04]);
        return issued.CopyWithPrivateKey(key);
    }
}
