using CardlessAtm.Network;
using CardlessAtm.Security;

namespace CardlessAtm.Terminal.Tests;

/// <summary>The ATM's client certificate for its proxy link is checked at start-up; each bad setting is named.</summary>
public sealed class ProxyCertificateSettingsTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("terminal-cert-");
    private readonly X509Pair _atm00001;
    private readonly string _serverPin;

    public ProxyCertificateSettingsTests()
    {
        using var authority = AtmCertificates.CreateAuthority("Test ATM CA", TimeProvider.System, TimeSpan.FromDays(2));
        using var issued = AtmCertificates.IssueAtmCertificate(authority, "ATM00001", TimeProvider.System, TimeSpan.FromDays(1));
        _atm00001 = Write(issued, "ATM00001");
        using var server = LabCertificates.CreateSelfSigned("proxy.test", TimeProvider.System, TimeSpan.FromDays(1));
        _serverPin = CertificatePin.ForPublicKey(server).ToString();
    }

    [Fact]
    public void A_matching_pair_and_pin_pass_and_the_link_presents_the_certificate()
    {
        var options = Options("ATM00001", t =>
        {
            t.ClientCertificatePath = _atm00001.Certificate;
            t.ClientPrivateKeyPath = _atm00001.Key;
        });

        TerminalOptionsValidator.ThrowIfInvalid(options);
        var tls = options.Proxy.Tls.CreateClientOptions("127.0.0.1");

        var presented = Assert.Single(tls!.ClientCertificates!.Cast<System.Security.Cryptography.X509Certificates.X509Certificate>());
        Assert.Contains("CN=ATM00001", presented.Subject, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("key missing", "Terminal:Proxy:Tls:ClientPrivateKeyPath")]
    [InlineData("no server pin", "Terminal:Proxy:Tls:ServerPin")]
    [InlineData("certificate of another ATM", "Terminal:Proxy:Tls:ClientCertificatePath")]
    [InlineData("key readable by others", "Terminal:Proxy:Tls:ClientPrivateKeyPath")]
    [InlineData("certificate file missing", "Terminal:Proxy:Tls:ClientCertificatePath")]
    public void A_bad_client_certificate_setting_stops_start_up_naming_it(string fault, string setting)
    {
        var atmId = fault == "certificate of another ATM" ? "ATM00002" : "ATM00001";
        var options = Options(atmId, t =>
        {
            t.ClientCertificatePath = fault == "certificate file missing" ? _atm00001.Certificate + ".gone" : _atm00001.Certificate;
            t.ClientPrivateKeyPath = fault == "key missing" ? null : _atm00001.Key;
            t.ServerPin = fault == "no server pin" ? null : t.ServerPin;
        });
        if (fault == "key readable by others" && !OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(_atm00001.Key, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        }

        var error = Assert.Throws<ConfigurationException>(() => TerminalOptionsValidator.ThrowIfInvalid(options));

        Assert.Equal(setting, error.Setting);
        Assert.Contains(setting, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("PRIVATE KEY", error.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// Terminal:Host:Tls is the same client type as Terminal:Proxy:Tls and gets the same start-up check: a client
    /// certificate without a server pin (plain TCP under Host:Insecure) was dropped silently, and half a client pair was
    /// found only when the host link was built.
    /// </summary>
    [Theory]
    [InlineData("client certificate without a server pin", "Terminal:Host:Tls:ServerPin")]
    [InlineData("key missing", "Terminal:Host:Tls:ClientPrivateKeyPath")]
    [InlineData("certificate missing", "Terminal:Host:Tls:ClientCertificatePath")]
    public void A_bad_host_link_TLS_setting_stops_start_up_naming_it(string fault, string setting)
    {
        var options = Options("ATM00001", t =>
        {
            t.ClientCertificatePath = _atm00001.Certificate;
            t.ClientPrivateKeyPath = _atm00001.Key;
        });
        options.Host.Tls = new TlsClientOptions
        {
            ServerPin = fault == "client certificate without a server pin" ? null : _serverPin,
            ClientCertificatePath = fault == "certificate missing" ? null : _atm00001.Certificate,
            ClientPrivateKeyPath = fault == "key missing" ? null : _atm00001.Key,
        };

        var error = Assert.Throws<ConfigurationException>(() => TerminalOptionsValidator.ThrowIfInvalid(options));

        Assert.Equal(setting, error.Setting);
        Assert.DoesNotContain("PRIVATE KEY", error.Message, StringComparison.Ordinal);
    }

    public void Dispose() => _directory.Delete(recursive: true);

    private TerminalOptions Options(string atmId, Action<TlsClientOptions> configure)
    {
        var tls = new TlsClientOptions { ServerPin = _serverPin, TargetHost = "proxy.test" };
        configure(tls);
        return new TerminalOptions
        {
            AtmId = atmId,
            DataDirectory = _directory.FullName,
            KeyStore = _directory.FullName,
            Host = new EndpointOptions { Port = 9, Insecure = true },
            Proxy = new EndpointOptions { Port = 9, Tls = tls, Insecure = true }, // these tests are about the certificate settings, not whether TLS is required
        };
    }

    private X509Pair Write(System.Security.Cryptography.X509Certificates.X509Certificate2 certificate, string stem)
    {
        var pair = new X509Pair(Path.Combine(_directory.FullName, stem + ".crt"), Path.Combine(_directory.FullName, stem + ".key"));
        LabCertificates.WritePem(certificate, pair.Certificate, pair.Key);
        return pair;
    }

    private sealed record X509Pair(string Certificate, string Key);
}
