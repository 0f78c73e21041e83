using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using CardlessAtm.Iso8583.Channels;
using CardlessAtm.Network;

namespace CardlessAtm.Iso8583.Tests;

public sealed class TlsChannelTests
{
    [Fact]
    public async Task Requests_flow_over_tls_with_a_pinned_server_certificate()
    {
        using var certificate = SelfSigned();
        var pinned = certificate.GetCertHashString(HashAlgorithmName.SHA256);
        await using var server = new Iso8583Server(new Iso8583ServerOptions
        {
            Spec = NetworkSpec.Messages,
            Tls = new SslServerAuthenticationOptions { ServerCertificate = certificate },
            RequestHandler = (r, _, _) => ValueTask.FromResult<IsoMessage?>(r.CreateResponse(ResponseCodes.Approved)),
        });
        await server.StartAsync();
        await using var client = new Iso8583Client(new Iso8583ClientOptions
        {
            Spec = NetworkSpec.Messages,
            Host = "127.0.0.1",
            Port = server.LocalEndPoint.Port,
            Tls = new SslClientAuthenticationOptions
            {
                TargetHost = "localhost",
                RemoteCertificateValidationCallback = (_, cert, _, _) => cert is X509Certificate2 c && c.GetCertHashString(HashAlgorithmName.SHA256) == pinned,
            },
        });
        await client.StartAsync();
        await client.WaitUntilConnectedAsync(Timeouts.Token());

        var response = await client.SendRequestAsync(new IsoMessage(NetworkSpec.Messages, Mti.FinancialRequest) { Stan = 1, TerminalId = "ATM00001" });

        Assert.Equal("00", response.ResponseCode);
    }

    [Fact]
    public async Task A_certificate_that_is_not_the_pinned_one_never_connects()
    {
        using var certificate = SelfSigned();
        await using var server = new Iso8583Server(new Iso8583ServerOptions { Spec = NetworkSpec.Messages, Tls = new SslServerAuthenticationOptions { ServerCertificate = certificate } });
        await server.StartAsync();
        await using var client = new Iso8583Client(new Iso8583ClientOptions
        {
            Spec = NetworkSpec.Messages,
            Host = "127.0.0.1",
            Port = server.LocalEndPoint.Port,
            ReconnectInitialDelay = TimeSpan.FromMilliseconds(10),
            ReconnectMaxDelay = TimeSpan.FromMilliseconds(50),
            Tls = new SslClientAuthenticationOptions { TargetHost = "localhost", RemoteCertificateValidationCallback = (_, _, _, _) => false },
        });
        await client.StartAsync();

        await Timeouts.UntilAsync(() => client.ConsecutiveFailures >= 2, "handshakes refused");
        Assert.False(client.IsConnected);
    }

    private static X509Certificate2 SelfSigned()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1));
        return X509CertificateLoader.LoadPkcs12(cert.Export(X509ContentType.Pkcs12), password: null);
    }
}
