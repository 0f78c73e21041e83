using CardlessAtm.Security;

namespace CardlessAtm.Network.Tests;

/// <summary>The one listener and one client TLS loader every role uses: each bad setting is refused naming its full path.</summary>
public sealed class TlsOptionsTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("tls-options-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Theory]
    [InlineData("key without certificate", "Host:Tls:CertificatePath")]
    [InlineData("certificate without key", "Host:Tls:PrivateKeyPath")]
    [InlineData("pin without TLS", "Host:Tls:ClientCertificatePin")]
    [InlineData("malformed pin", "Host:Tls:ClientCertificatePin")]
    [InlineData("client CA on a listener without ATM identity", "Host:Tls:ClientCaCertificatePath")]
    [InlineData("deny list on a listener without ATM identity", "Host:Tls:DenyListPath")]
    [InlineData("certificate file missing", "Host:Tls:CertificatePath")]
    public void A_bad_listener_setting_is_refused_naming_it(string fault, string setting)
    {
        var tls = new TlsListenerOptions { CertificatePath = Path.Combine(_directory, "host.crt"), PrivateKeyPath = Path.Combine(_directory, "host.key") };
        switch (fault)
        {
            case "key without certificate":
                tls.CertificatePath = null;
                break;
            case "certificate without key":
                tls.PrivateKeyPath = " ";
                break;
            case "pin without TLS":
                tls = new TlsListenerOptions { ClientCertificatePin = "spki-sha256:" + Convert.ToBase64String(new byte[32]) };
                break;
            case "malformed pin":
                tls.ClientCertificatePin = "sha1:abc";
                break;
            case "client CA on a listener without ATM identity":
                tls.ClientCaCertificatePath = Path.Combine(_directory, "ca.crt");
                break;
            case "deny list on a listener without ATM identity":
                tls.DenyListPath = Path.Combine(_directory, "deny.txt");
                break;
        }

        var error = Assert.Throws<ConfigurationException>(() => tls.CreateServerOptions("Host:Tls"));

        Assert.Equal(setting, error.Setting);
        Assert.Contains(setting, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_listener_without_a_certificate_is_plain_TCP_and_with_one_runs_TLS_13()
    {
        using var certificate = LabCertificates.CreateSelfSigned("host.lab", TimeProvider.System, TimeSpan.FromDays(1));
        var (certificatePath, keyPath) = WritePair(certificate, "host");
        var tls = new TlsListenerOptions { CertificatePath = certificatePath, PrivateKeyPath = keyPath };

        var plain = new TlsListenerOptions().CreateServerOptions("Host:Tls");
        var server = tls.CreateServerOptions("Host:Tls");

        Assert.Null(plain);
        Assert.Equal(System.Security.Authentication.SslProtocols.Tls13, server!.EnabledSslProtocols);
        Assert.Equal(certificate.Thumbprint, Assert.IsAssignableFrom<System.Security.Cryptography.X509Certificates.X509Certificate2>(server.ServerCertificate).Thumbprint);
    }

    [Fact]
    public void The_client_CA_rules_name_the_setting_of_the_listener_that_checks_ATM_identity()
    {
        var noTls = new TlsListenerOptions { ClientCaCertificatePath = Path.Combine(_directory, "ca.crt") };
        var withPin = new TlsListenerOptions { CertificatePath = "p.crt", PrivateKeyPath = "p.key", ClientCaCertificatePath = "ca.crt", ClientCertificatePin = "spki-sha256:" + Convert.ToBase64String(new byte[32]) };
        var denyOnly = new TlsListenerOptions { CertificatePath = "p.crt", PrivateKeyPath = "p.key", DenyListPath = "deny.txt" };

        Assert.Equal("Proxy:Atm:Tls:CertificatePath", Assert.Throws<ConfigurationException>(() => noTls.ValidateClientAuthority("Proxy:Atm:Tls")).Setting);
        Assert.Equal("Proxy:Atm:Tls:ClientCertificatePin", Assert.Throws<ConfigurationException>(() => withPin.ValidateClientAuthority("Proxy:Atm:Tls")).Setting);
        Assert.Equal("Proxy:Atm:Tls:DenyListPath", Assert.Throws<ConfigurationException>(() => denyOnly.ValidateClientAuthority("Proxy:Atm:Tls")).Setting);
    }

    [Theory]
    [InlineData("malformed pin", "Phone:TlsServerPin")]
    [InlineData("key without certificate", "Phone:TlsClientCertificatePath")]
    public void A_bad_client_setting_is_refused_under_the_key_the_role_uses(string fault, string setting)
    {
        var names = new TlsClientSettingNames("Phone:TlsServerPin", "Phone:TlsTargetHost", "Phone:TlsClientCertificatePath", "Phone:TlsClientPrivateKeyPath");
        var tls = fault == "malformed pin"
            ? new TlsClientOptions { ServerPin = "sha1:abc" }
            : new TlsClientOptions { ServerPin = "spki-sha256:" + Convert.ToBase64String(new byte[32]), ClientPrivateKeyPath = "atm.key" };

        var error = Assert.Throws<ConfigurationException>(() => tls.Validate(names));

        Assert.Equal(setting, error.Setting);
    }

    [Fact]
    public void A_client_sends_the_target_host_when_set_and_the_address_dialled_otherwise()
    {
        var pin = "spki-sha256:" + Convert.ToBase64String(new byte[32]);

        var named = new TlsClientOptions { ServerPin = pin, TargetHost = "proxy.lab" }.CreateClientOptions("10.0.0.5", "Terminal:Proxy:Tls");
        var unnamed = new TlsClientOptions { ServerPin = pin, TargetHost = " " }.CreateClientOptions("10.0.0.5", "Terminal:Proxy:Tls");
        var plain = new TlsClientOptions().CreateClientOptions("10.0.0.5", "Terminal:Proxy:Tls");

        Assert.Equal("proxy.lab", named!.TargetHost);
        Assert.Equal("10.0.0.5", unnamed!.TargetHost);
        Assert.Null(plain);
    }

    private (string Certificate, string Key) WritePair(System.Security.Cryptography.X509Certificates.X509Certificate2 certificate, string name)
    {
        var certificatePath = Path.Combine(_directory, "tls", name + ".crt");
        var keyPath = Path.Combine(_directory, "tls", name + ".key");
        LabCertificates.WritePem(certificate, certificatePath, keyPath);
        return (certificatePath, keyPath);
    }
}
