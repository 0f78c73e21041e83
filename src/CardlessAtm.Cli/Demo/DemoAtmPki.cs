using System.Security.Cryptography.X509Certificates;
using CardlessAtm.Network;
using CardlessAtm.Proxy;
using CardlessAtm.Security;

namespace CardlessAtm.Cli.Demo;

/// <summary>
/// The demo's ATM identity, made on the fly in the demo's temporary directory as the ceremony in docs/operations.md
/// makes it for real: an ATM CA (its key 0600), the proxy's server certificate, an empty deny list, and one client
/// certificate per ATM naming its id. Nothing is kept after the demo.
/// </summary>
internal sealed class DemoAtmPki : IDisposable
{
    /// <summary>The name the terminals ask for in the TLS handshake; the proxy's certificate is pinned, not name-checked.</summary>
    public const string ProxyName = "proxy.demo";

    private readonly X509Certificate2 _authority;
    private readonly string _directory;

    private DemoAtmPki(string directory, X509Certificate2 authority, CertificatePin proxyPin)
    {
        _directory = directory;
        _authority = authority;
        ProxyPin = proxyPin;
    }

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
        return new DemoAtmPki(directory, authority, pin);
    }

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
