using System.Net;
using System.Net.Sockets;
using CardlessAtm.Host.Seeding;
using CardlessAtm.Host.Server;
using CardlessAtm.Iso8583;
using CardlessAtm.Network;
using CardlessAtm.Security;
using CardlessAtm.Terminal.Links;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;

namespace CardlessAtm.Terminal.Tests;

/// <summary>
/// Issue 16 item 1: <c>Terminal:Host:Failover</c> and <c>Terminal:Proxy:Failover</c> list further endpoints after
/// <c>Address</c>/<c>Port</c>; a bad entry stops start-up naming it, and the host link signs on at the next endpoint when the
/// first refuses (a real host on loopback).
/// </summary>
public sealed class EndpointFailoverTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("terminal-failover-");

    [Fact]
    public void The_failover_list_binds_from_configuration_after_the_first_endpoint()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Terminal:Host:Address"] = "10.0.0.1",
            ["Terminal:Host:Port"] = "5000",
            ["Terminal:Host:Failover:0:Address"] = "10.0.0.2",
            ["Terminal:Host:Failover:0:Port"] = "5001",
            ["Terminal:Host:Failover:1:Address"] = "host-c.bank.test",
            ["Terminal:Host:Failover:1:Port"] = "5002",
        }).Build();
        var options = new TerminalOptions();

        configuration.GetSection("Terminal").Bind(options);

        Assert.Equal("10.0.0.1:5000", options.Host.ToString());
        Assert.Equal(["10.0.0.2:5001", "host-c.bank.test:5002"], options.Host.Failover.Select(e => e.ToString()));
        Assert.Empty(options.Proxy.Failover);
    }

    [Theory]
    [InlineData("Host", 1, "", 5001, "Terminal:Host:Failover:1:Address")]
    [InlineData("Host", 1, "10.0.0.3", 0, "Terminal:Host:Failover:1:Port")]
    [InlineData("Host", 1, "10.0.0.3", 70000, "Terminal:Host:Failover:1:Port")]
    [InlineData("Proxy", 0, "10.0.0.3", -1, "Terminal:Proxy:Failover:0:Port")]
    public void A_bad_failover_entry_stops_start_up_naming_its_setting(string link, int index, string address, int port, string setting)
    {
        var options = Options();
        var endpoint = link == "Host" ? options.Host : options.Proxy;
        endpoint.Failover = [new FailoverEndpointOptions { Address = "10.0.0.2", Port = 5001 }];
        endpoint.Failover.Insert(index, new FailoverEndpointOptions { Address = address, Port = port });

        var error = Assert.Throws<ConfigurationException>(() => TerminalOptionsValidator.ThrowIfInvalid(options));

        Assert.Equal(setting, error.Setting);
        Assert.Contains(setting, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_good_failover_list_passes()
    {
        var options = Options();
        options.Host.Failover = [new FailoverEndpointOptions { Address = "10.0.0.2", Port = 5001 }];
        options.Proxy.Failover = [new FailoverEndpointOptions { Address = "proxy-b", Port = 6001 }];

        TerminalOptionsValidator.ThrowIfInvalid(options);
    }

    [Fact]
    public async Task When_the_first_host_endpoint_refuses_the_link_signs_on_with_keys_at_the_next()
    {
        await using var host = await HostServer.StartAsync(new HostServerOptions
        {
            DatabasePath = Path.Combine(_directory.FullName, "host.db"),
            KeyVaultPath = Path.Combine(_directory.FullName, "host-keys"),
            Port = 0,
            Profile = SecurityProfileKind.Aes,
            Insecure = true,
        });
        var seed = await DemoSeed.SeedAsync(host);
        var options = Options();
        options.Host = new EndpointOptions
        {
            Address = "127.0.0.1",
            Port = RefusedPort(),
            Insecure = true,
            Failover = [new FailoverEndpointOptions { Address = "127.0.0.1", Port = host.LocalEndPoint.Port }],
        };
        await using var link = await StartSignedOnLinkAsync(options, seed);

        Assert.Equal(host.LocalEndPoint.Port, link.CurrentEndpoint.Port);
        Assert.True(link.KeyVersion > 0, "no key change at the second endpoint");
        var echo = link.NewRequest(Mti.NetworkManagementRequest);
        echo.NetworkManagementCode = NetworkManagementCodes.EchoTest;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var answer = await link.SendAsync(echo, timeout.Token);
        Assert.Equal(ResponseCodes.Approved, answer.ResponseCode);
        Assert.True(answer.MacVerified);
    }

    /// <summary>
    /// The pin is checked per endpoint: a first endpoint whose TLS certificate is not the pinned one is never signed on to
    /// (no 0800 reaches it); the link moves on and signs on at the next endpoint, which presents the pinned certificate.
    /// </summary>
    [Fact]
    public async Task A_first_endpoint_with_a_certificate_that_is_not_the_pinned_one_is_passed_over_for_the_next()
    {
        using var pinned = LabCertificates.CreateSelfSigned("cardless-host", TimeProvider.System, TimeSpan.FromDays(1));
        var hostTls = new TlsListenerOptions
        {
            CertificatePath = Path.Combine(_directory.FullName, "host.crt"),
            PrivateKeyPath = Path.Combine(_directory.FullName, "host.key"),
        };
        var pin = LabCertificates.WritePem(pinned, hostTls.CertificatePath, hostTls.PrivateKeyPath).ToString();
        await using var host = await HostServer.StartAsync(new HostServerOptions
        {
            DatabasePath = Path.Combine(_directory.FullName, "host.db"),
            KeyVaultPath = Path.Combine(_directory.FullName, "host-keys"),
            Port = 0,
            Profile = SecurityProfileKind.Aes,
            Tls = hostTls,
        });
        var seed = await DemoSeed.SeedAsync(host);

        using var impostorCertificate = LabCertificates.CreateSelfSigned("cardless-host", TimeProvider.System, TimeSpan.FromDays(1));
        var requestsAtImpostor = 0;
        await using var impostor = new Iso8583.Channels.Iso8583Server(new Iso8583.Channels.Iso8583ServerOptions
        {
            Spec = NetworkSpec.Messages,
            Tls = new System.Net.Security.SslServerAuthenticationOptions { ServerCertificate = impostorCertificate },
            RequestHandler = (request, _, _) =>
            {
                Interlocked.Increment(ref requestsAtImpostor);
                return ValueTask.FromResult<IsoMessage?>(request.CreateResponse(ResponseCodes.Approved));
            },
        });
        await impostor.StartAsync();

        var options = Options();
        options.Host = new EndpointOptions
        {
            Address = "127.0.0.1",
            Port = impostor.LocalEndPoint.Port,
            Tls = new TlsClientOptions { ServerPin = pin, TargetHost = "cardless-host" },
            Failover = [new FailoverEndpointOptions { Address = "127.0.0.1", Port = host.LocalEndPoint.Port }],
        };
        await using var link = await StartSignedOnLinkAsync(options, seed);

        Assert.Equal(host.LocalEndPoint.Port, link.CurrentEndpoint.Port);
        Assert.Equal(0, Volatile.Read(ref requestsAtImpostor));
        Assert.True(link.KeyVersion > 0);
    }

    public void Dispose() => _directory.Delete(recursive: true);

    /// <summary>A host link on <paramref name="options"/> (checked first), started and waited on until signed on with keys.</summary>
    private static async Task<HostLink> StartSignedOnLinkAsync(TerminalOptions options, DemoSeedResult seed)
    {
        TerminalOptionsValidator.ThrowIfInvalid(options);
        var masterKey = SecretKey.Create(seed.Atm.MasterKey.Algorithm, seed.Atm.MasterKey.ExportBytes());
        var link = new HostLink(options, SecurityProfiles.Create(SecurityProfileKind.Aes), masterKey, new StanGenerator(), TimeProvider.System, NullLogger.Instance);
        try
        {
            await link.StartAsync(CancellationToken.None);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await link.WaitUntilReadyAsync(timeout.Token);
            return link;
        }
        catch
        {
            await link.DisposeAsync();
            throw;
        }
    }

    private static int RefusedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private TerminalOptions Options() => new()
    {
        AtmId = DemoSeed.AtmId,
        DataDirectory = _directory.FullName,
        KeyStore = _directory.FullName,
        Host = new EndpointOptions { Port = 9, Insecure = true },
        Proxy = new EndpointOptions { Port = 9, Insecure = true },
    };
}
