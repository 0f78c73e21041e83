using System.Security.Cryptography.X509Certificates;
using CardlessAtm.Network;
using CardlessAtm.Proxy;
using CardlessAtm.Security;

namespace CardlessAtm.Cli.Demo;

/// <summary>
/// The demo's TLS material, made on the fly in the demo's temporary directory (0700, keys 0600) as the ceremony in
/// docs/operations.md makes it for real: a lab pair for each listener — the host, the proxy's ATM port, the proxy's
/// phone port — whose pins the dialling side configures; an ATM CA, an empty deny list, and one client certificate per
/// ATM naming its id. Nothing is kept after the demo.
/// </summary>
internal sealed class DemoAtmPki : IDisposable
{
    /// <summary>The name the terminals ask for in the TLS handshake; the proxy's certificate is pinned, not name-checked.</summary>
    public const string ProxyName = "proxy.demo";

    /// <summary>The name the terminals ask for on the host link.</summary>
    public const string HostName = "host.demo";

    /// <summary>The name phones ask for on the proxy's phone port.</summary>
    public const string PhonePortName = "phones.proxy.demo";

    private readonly X509Certificate2 _authority;
    private readonly string _directory;

    private DemoAtmPki(string directory, X509Certificate2 authority, CertificatePin proxyPin, CertificatePin hostPin, CertificatePin phonePortPin)
    {
        _directory = directory;
        _authority = authority;
        ProxyPin = proxyPin;
        HostPin = hostPin;
        PhonePortPin = phonePortPin;
    }

    /// <summary>The pin of the host's server certificate, which every terminal configures as Terminal:Host:Tls:ServerPin.</summary>
    public CertificatePin HostPin { get; }

    /// <summary>The pin of the proxy's phone-port certificate, which every phone configures as Phone:TlsServerPin.</summary>
    public CertificatePin PhonePortPin { get; }

    /// <summary>The pin of the proxy's server certificate, which every terminal configures.</summary>
    public CertificatePin ProxyPin { get; }

    /// <summary>The pinned ATM CA certificate (PEM).</summary>
    public string AuthorityPath => Path.Combine(_directory, "atm-ca.crt");

    /// <summary>The proxy's deny list.</summary>
    public string DenyListPath => Path.Combine(_directory, "atm-deny.txt");

    /// <summary>The ATM CA's subject, for the narration.</summary>
    public string AuthoritySubject => _authority.Subject;

    public static DemoAtmPki Create(DirectoryInfo demoDirectory)
    {
        var directory = Path.Combine(demoDirectory.FullName, "pki");
        FileKeyStore.CreatePrivateDirectory(directory);
        var authority = AtmCertificates.CreateAuthority("CardlessAtm demo ATM CA", TimeProvider.System, TimeSpan.FromDays(1));
        LabCertificates.WritePem(authority, Path.Combine(directory, "atm-ca.crt"), Path.Combine(directory, "atm-ca.key"));
        using var proxy = LabCertificates.CreateSelfSigned(ProxyName, TimeProvider.System, TimeSpan.FromDays(1));
        var pin = LabCertificates.WritePem(proxy, Path.Combine(directory, "proxy.crt"), Path.Combine(directory, "proxy.key"));
        File.WriteAllText(Path.Combine(directory, "atm-deny.txt"), "# revoked ATM certificates: serial:HEX or cert-sha256:HEX\n");
        using var host = LabCertificates.CreateSelfSigned(HostName, TimeProvider.System, TimeSpan.FromDays(1));
        var hostPin = LabCertificates.WritePem(host, Path.Combine(directory, "host.crt"), Path.Combine(directory, "host.key"));
        using var phones = LabCertificates.CreateSelfSigned(PhonePortName, TimeProvider.System, TimeSpan.FromDays(1));
        var phonePin = LabCertificates.WritePem(phones, Path.Combine(directory, "proxy-phones.crt"), Path.Combine(directory, "proxy-phones.key"));
        return new DemoAtmPki(directory, authority, pin, hostPin, phonePin);
    }

    /// <summary>The host's listener: TLS 1.3 with the demo host pair (what Host:Tls:CertificatePath and PrivateKeyPath name).</summary>
    public void ConfigureHost(TlsListenerOptions tls)
    {
        tls.CertificatePath = Path.Combine(_directory, "host.crt");
        tls.PrivateKeyPath = Path.Combine(_directory, "host.key");
    }

    /// <summary>The proxy's phone listener: TLS 1.3 with the demo phone-port pair.</summary>
    public void ConfigureProxyPhones(ProxyListenerOptions phone)
    {
        phone.Tls.CertificatePath = Path.Combine(_directory, "proxy-phones.crt");
        phone.Tls.PrivateKeyPath = Path.Combine(_directory, "proxy-phones.key");
    }

    /// <summary>A terminal's host-link TLS settings: the host's pin.</summary>
    public TlsClientOptions TerminalHostTls() => new() { ServerPin = HostPin.ToString(), TargetHost = HostName };

    /// <summary>The proxy's ATM listener: TLS 1.3, ATM certificates from the demo CA required, the deny list.</summary>
    public void ConfigureProxy(ProxyListenerOptions atm)
    {
        atm.Tls.CertificatePath = Path.Combine(_directory, "proxy.crt");
        atm.Tls.PrivateKeyPath = Path.Combine(_directory, "proxy.key");
        atm.Tls.ClientCaCertificatePath = AuthorityPath;
        atm.Tls.DenyListPath = DenyListPath;
    }

    /// <summary>Issues <paramref name="atmId"/>'s client pair into <paramref name="atmDirectory"/> and returns the terminal's proxy-link TLS settings.</summary>
    public TlsClientOptions IssueTerminalTls(string atmId, string atmDirectory)
    {
        FileKeyStore.CreatePrivateDirectory(atmDirectory);
        var certificatePath = Path.Combine(atmDirectory, atmId + ".crt");
        var keyPath = Path.Combine(atmDirectory, atmId + ".key");
        if (!File.Exists(certificatePath))
        {
            using var issued = AtmCertificates.IssueAtmCertificate(_authority, atmId, TimeProvider.System, TimeSpan.FromDays(1));
            LabCertificates.WritePem(issued, certificatePath, keyPath);
        }

        return new TlsClientOptions { ServerPin = ProxyPin.ToString(), TargetHost = ProxyName, ClientCertificatePath = certificatePath, ClientPrivateKeyPath = keyPath };
    }

    /// <summary>A client certificate for <paramref name="atmId"/> in memory (for the impostor scenario, which holds another ATM's).</summary>
    public X509Certificate2 IssueInMemory(string atmId) => AtmCertificates.IssueAtmCertificate(_authority, atmId, TimeProvider.System, TimeSpan.FromDays(1));

    public void Dispose() => _authority.Dispose();
}
