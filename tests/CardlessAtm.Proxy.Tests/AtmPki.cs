using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using CardlessAtm.Iso8583;
using CardlessAtm.Iso8583.Channels;
using CardlessAtm.Network;
using CardlessAtm.Security;

namespace CardlessAtm.Proxy.Tests;

/// <summary>
/// A lab ATM PKI made at run time in a temporary directory (no key material in the repository): the ATM CA, the
/// proxy's server certificate, ATM certificates issued by the CA, a stranger CA, and the proxy's deny list.
/// </summary>
internal sealed class AtmPki : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("atm-pki-");
    private readonly List<X509Certificate2> _issued = [];
    private readonly TimeProvider _time;

    public AtmPki(TimeProvider time)
    {
        _time = time;
        Authority = AtmCertificates.CreateAuthority("Test ATM CA", time, TimeSpan.FromDays(30));
        StrangerAuthority = AtmCertificates.CreateAuthority("Test ATM CA", time, TimeSpan.FromDays(30)); // same name, other key
        AuthorityPath = Path.Combine(_directory.FullName, "atm-ca.crt");
        File.WriteAllText(AuthorityPath, Authority.ExportCertificatePem());
        ServerCertificate = LabCertificates.CreateSelfSigned("proxy.test", time, TimeSpan.FromDays(30));
        ServerCertificatePath = Path.Combine(_directory.FullName, "proxy.crt");
        ServerKeyPath = Path.Combine(_directory.FullName, "proxy.key");
        ServerPin = LabCertificates.WritePem(ServerCertificate, ServerCertificatePath, ServerKeyPath);
        DenyListPath = Path.Combine(_directory.FullName, "atm-deny.txt");
        File.WriteAllText(DenyListPath, "# revoked ATM certificates\n");
    }

    public X509Certificate2 Authority { get; }

    public X509Certificate2 StrangerAuthority { get; }

    public string AuthorityPath { get; }

    public X509Certificate2 ServerCertificate { get; }

    public string ServerCertificatePath { get; }

    public string ServerKeyPath { get; }

    public CertificatePin ServerPin { get; }

    public string DenyListPath { get; }

    /// <summary>The ATM listener with TLS, the ATM CA pinned and the deny list.</summary>
    public void Configure(ProxyOptions options)
    {
        options.Atm.Insecure = false;
        options.Atm.Tls.CertificatePath = ServerCertificatePath;
        options.Atm.Tls.PrivateKeyPath = ServerKeyPath;
        options.Atm.Tls.ClientCaCertificatePath = AuthorityPath;
        options.Atm.Tls.DenyListPath = DenyListPath;
    }

    public X509Certificate2 Issue(string atmId) => Keep(AtmCertificates.IssueAtmCertificate(Authority, atmId, _time, TimeSpan.FromDays(7)));

    public X509Certificate2 IssueByStranger(string atmId) => Keep(AtmCertificates.IssueAtmCertificate(StrangerAuthority, atmId, _time, TimeSpan.FromDays(7)));

    /// <summary>TLS to the proxy, pinning its certificate and presenting <paramref name="clientCertificate"/> (or none).</summary>
    public SslClientAuthenticationOptions Client(X509Certificate2? clientCertificate) => TlsSetup.ClientOptions("proxy.test", ServerPin, clientCertificate);

    /// <summary>Adds a revocation line, rewriting the file as an operator's editor would.</summary>
    public void Deny(string entry)
    {
        var text = File.ReadAllText(DenyListPath) + entry + "\n";
        File.WriteAllText(DenyListPath, text);
    }

    public void Dispose()
    {
        foreach (var certificate in _issued)
        {
            certificate.Dispose();
        }

        Authority.Dispose();
        StrangerAuthority.Dispose();
        ServerCertificate.Dispose();
        _directory.Delete(recursive: true);
    }

    private X509Certificate2 Keep(X509Certificate2 certificate)
    {
        _issued.Add(certificate);
        return certificate;
    }
}

/// <summary>One connection that tries to sign on to the proxy's ATM port once, so the refusal can be read.</summary>
internal static class SignOnAttempt
{
    /// <summary>What happened.</summary>
    /// <param name="ResponseCode">The proxy's answer to the sign-on, or null when the connection failed first (e.g. TLS refused).</param>
    public sealed record Result(string? ResponseCode);

    public static async Task<Result> TryAsync(IPEndPoint proxy, SslClientAuthenticationOptions? tls, string atmId)
    {
        var answered = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = new Iso8583Client(new Iso8583ClientOptions
        {
            Spec = NetworkSpec.Messages,
            Host = proxy.Address.ToString(),
            Port = proxy.Port,
            Tls = tls,
            ReconnectInitialDelay = TimeSpan.FromHours(1),
            ReconnectMaxDelay = TimeSpan.FromHours(1),
            SignOn = async (connection, cancellationToken) =>
            {
                var answer = await connection.SendRequestAsync(FakeAtm.SignOnRequest(atmId, Random.Shared.Next(1, 999_999)), cancellationToken);
                answered.TrySetResult(answer.ResponseCode ?? "-");
            },
        });
        await client.StartAsync();
        var deadline = Deadline.Token;
        while (!answered.Task.IsCompleted && client.ConsecutiveFailures == 0)
        {
            await Task.WhenAny(answered.Task, Task.Delay(10, deadline));
            deadline.ThrowIfCancellationRequested();
        }

        return new Result(answered.Task.IsCompleted ? await answered.Task : null);
    }
}

/// <summary>Helpers for the identity tests.</summary>
internal static class Served
{
    /// <summary>A phone's withdrawal for <paramref name="atmId"/> reaches <paramref name="atm"/> and is approved.</summary>
    public static async Task AssertServedByAsync(ProxyFixture fixture, FakeAtm atm, string atmId, int stan)
    {
        await using var phone = await FakePhone.StartAsync(fixture.Proxy.PhoneEndPoint);
        var before = atm.Received.Count;
        var response = await phone.SendAsync(FakePhone.Withdrawal(atmId, stan));
        Assert.Equal(ResponseCodes.Approved, response.ResponseCode);
        Assert.Equal(before + 1, atm.Received.Count);
    }
}
