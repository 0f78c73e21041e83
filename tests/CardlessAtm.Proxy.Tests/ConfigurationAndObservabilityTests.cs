using CardlessAtm.Iso8583;
using CardlessAtm.Network;
using CardlessAtm.Security;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace CardlessAtm.Proxy.Tests;

public class ConfigurationAndObservabilityTests
{
    [Theory]
    [InlineData("Proxy:PhoneIdleTimeout")]
    [InlineData("Proxy:Atm:Address")]
    [InlineData("Proxy:Phone:Port")]
    [InlineData("Proxy:MaxRequestsPerPhoneConnection")]
    [InlineData("Proxy:Atm:Tls:PrivateKeyPath")]
    [InlineData("Proxy:Phone:Tls:ClientCertificatePin")]
    [InlineData("Proxy:ForwardTimeout")]
    public void A_bad_setting_is_refused_naming_it(string setting)
    {
        var options = ProxyFixture.LoopbackOptions();
        switch (setting)
        {
            case "Proxy:PhoneIdleTimeout":
                options.PhoneIdleTimeout = options.ForwardTimeout;
                break;
            case "Proxy:Atm:Address":
                options.Atm.Address = "proxy.example";
                break;
            case "Proxy:Phone:Port":
                options.Atm.Port = 9000;
                options.Phone.Port = 9000;
                break;
            case "Proxy:MaxRequestsPerPhoneConnection":
                options.MaxRequestsPerPhoneConnection = 0;
                break;
            case "Proxy:Atm:Tls:PrivateKeyPath":
                options.Atm.Tls.CertificatePath = "proxy.crt";
                break;
            case "Proxy:Phone:Tls:ClientCertificatePin":
                options.Phone.Tls.ClientCertificatePin = "spki-sha256:AAAA";
                break;
            case "Proxy:ForwardTimeout":
                options.ForwardTimeout = TimeSpan.Zero;
                break;
        }

        var error = Assert.Throws<ProxyConfigurationException>(() => new ProxyServer(options));
        Assert.Equal(setting, error.Setting);
        Assert.Contains(setting, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_port_in_use_is_a_configuration_error_naming_the_listener()
    {
        await using var fixture = await ProxyFixture.StartAsync();
        var options = ProxyFixture.LoopbackOptions(o => o.Phone.Port = fixture.Proxy.PhoneEndPoint.Port);

        var error = await Assert.ThrowsAsync<ProxyConfigurationException>(() => ProxyServer.StartAsync(options));

        Assert.Equal("Proxy:Phone:Port", error.Setting);
    }

    [Fact]
    public async Task A_missing_certificate_file_is_a_configuration_error()
    {
        var options = ProxyFixture.LoopbackOptions(o =>
        {
            o.Atm.Tls.CertificatePath = Path.Combine(Path.GetTempPath(), "no-such-dir-" + Guid.NewGuid().ToString("N"), "proxy.crt");
            o.Atm.Tls.PrivateKeyPath = o.Atm.Tls.CertificatePath + ".key";
        });

        var error = await Assert.ThrowsAsync<ProxyConfigurationException>(() => ProxyServer.StartAsync(options));

        Assert.Equal("Proxy:Atm:Tls:CertificatePath", error.Setting);
    }

    [Fact]
    public async Task AddProxy_binds_the_Proxy_section_and_the_hosted_service_listens()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Proxy:Atm:Port"] = "0",
            ["Proxy:Atm:Insecure"] = "true",
            ["Proxy:Phone:Port"] = "0",
            ["Proxy:Phone:Insecure"] = "true", // binding is what this tests; TLS on the phone port is tested below
            ["Proxy:Phone:Address"] = "localhost",
            ["Proxy:ForwardTimeout"] = "00:00:45",
            ["Proxy:MaxRequestsPerPhoneConnection"] = "1",
            ["Proxy:AtmEchoInterval"] = string.Empty,
        }).Build();
        var services = new ServiceCollection().AddLogging().AddProxy(configuration);
        await using var provider = services.BuildServiceProvider();
        var hosted = Assert.Single(provider.GetServices<IHostedService>());

        var bound = provider.GetRequiredService<IOptions<ProxyOptions>>().Value;
        Assert.Equal(TimeSpan.FromSeconds(45), bound.ForwardTimeout);
        Assert.Null(bound.AtmEchoInterval); // empty disables it, as docs/proxy.md says
        Assert.Equal("localhost", bound.Phone.Address);
        Assert.True(bound.Atm.Insecure);

        await hosted.StartAsync(CancellationToken.None);
        var proxy = provider.GetRequiredService<ProxyHostedService>().Proxy;
        Assert.Same(proxy, await provider.GetRequiredService<ProxyHostedService>().StartProxyAsync());
        await using var atm = await FakeAtm.StartAsync("ATM00001", proxy.AtmEndPoint);
        await proxy.WaitForAtmStateAsync("ATM00001", AtmLinkState.Online, Deadline.Token);
        await using var phone = await FakePhone.StartAsync(proxy.PhoneEndPoint);
        var connection = await phone.Client.WaitUntilConnectedAsync(Deadline.Token);
        var response = await connection.SendRequestAsync(FakePhone.Withdrawal("ATM00001", 1), Deadline.Token);
        await connection.Completion.WaitAsync(Deadline.Token); // MaxRequestsPerPhoneConnection = 1 was bound
        await hosted.StopAsync(CancellationToken.None);

        Assert.Equal(ResponseCodes.Approved, response.ResponseCode);
    }

    [Fact]
    public async Task Both_listeners_run_TLS_from_PEM_files_and_a_client_pinning_another_certificate_is_refused()
    {
        var directory = Directory.CreateTempSubdirectory("proxy-tls-");
        try
        {
            using var certificate = LabCertificates.CreateSelfSigned("proxy.test", TimeProvider.System, TimeSpan.FromDays(1));
            var certPath = Path.Combine(directory.FullName, "proxy.crt");
            var keyPath = Path.Combine(directory.FullName, "proxy.key");
            var pin = LabCertificates.WritePem(certificate, certPath, keyPath);
            await using var fixture = await ProxyFixture.StartAsync(o =>
            {
                o.Atm.Tls.CertificatePath = certPath;
                o.Atm.Tls.PrivateKeyPath = keyPath;
                o.Phone.Tls.CertificatePath = certPath;
                o.Phone.Tls.PrivateKeyPath = keyPath;
            });
            await using var atm = await FakeAtm.StartAsync("ATM00001", fixture.Proxy.AtmEndPoint, TlsSetup.ClientOptions("proxy.test", pin));
            await fixture.Proxy.WaitForAtmStateAsync("ATM00001", AtmLinkState.Online, Deadline.Token);
            await using var phone = await FakePhone.StartAsync(fixture.Proxy.PhoneEndPoint, TlsSetup.ClientOptions("proxy.test", pin));

            Assert.Equal(ResponseCodes.Approved, (await phone.SendAsync(FakePhone.Withdrawal("ATM00001", 1))).ResponseCode);

            using var stranger = LabCertificates.CreateSelfSigned("stranger.test", TimeProvider.System, TimeSpan.FromDays(1));
            await using var wary = new Iso8583.Channels.Iso8583Client(new Iso8583.Channels.Iso8583ClientOptions
            {
                Spec = NetworkSpec.Messages,
                Host = "127.0.0.1",
                Port = fixture.Proxy.PhoneEndPoint.Port,
                Tls = TlsSetup.ClientOptions("proxy.test", CertificatePin.ForPublicKey(stranger)),
                ReconnectInitialDelay = TimeSpan.FromMilliseconds(10),
                ReconnectMaxDelay = TimeSpan.FromMilliseconds(10),
            });
            await wary.StartAsync();
            while (wary.ConsecutiveFailures == 0)
            {
                await Task.Delay(10, Deadline.Token);
            }

            Assert.False(wary.IsConnected);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task The_ATM_listener_can_require_a_pinned_client_certificate()
    {
        using var proxyCertificate = LabCertificates.CreateSelfSigned("proxy.test", TimeProvider.System, TimeSpan.FromDays(1));
        using var atmCertificate = LabCertificates.CreateSelfSigned("atm00001.test", TimeProvider.System, TimeSpan.FromDays(1));
        using var strangerCertificate = LabCertificates.CreateSelfSigned("stranger.test", TimeProvider.System, TimeSpan.FromDays(1));
        var proxyPin = CertificatePin.ForPublicKey(proxyCertificate);
        await using var fixture = await ProxyFixture.StartAsync(o =>
            o.Atm.Tls.ServerAuthentication = TlsSetup.ServerOptions(proxyCertificate, CertificatePin.ForPublicKey(atmCertificate)));

        await using var atm = await FakeAtm.StartAsync("ATM00001", fixture.Proxy.AtmEndPoint, TlsSetup.ClientOptions("proxy.test", proxyPin, atmCertificate));
        await fixture.Proxy.WaitForAtmStateAsync("ATM00001", AtmLinkState.Online, Deadline.Token);

        await using var impostor = new Iso8583.Channels.Iso8583Client(new Iso8583.Channels.Iso8583ClientOptions
        {
            Spec = NetworkSpec.Messages,
            Host = "127.0.0.1",
            Port = fixture.Proxy.AtmEndPoint.Port,
            Tls = TlsSetup.ClientOptions("proxy.test", proxyPin, strangerCertificate),
            SignOn = async (connection, ct) =>
            {
                var answer = await connection.SendRequestAsync(FakeAtm.SignOnRequest("ATM00002", 1), ct);
                Assert.Fail($"an unpinned client certificate was let through (sign-on answered {answer.ResponseCode})");
            },
            ReconnectInitialDelay = TimeSpan.FromMilliseconds(10),
            ReconnectMaxDelay = TimeSpan.FromMilliseconds(10),
        });
        await impostor.StartAsync();
        await Eventually.TrueAsync(() => impostor.ConsecutiveFailures >= 2);

        Assert.Equal(AtmLinkState.Unknown, fixture.Proxy.GetAtmState("ATM00002"));
        Assert.Equal(new[] { "ATM00001" }, fixture.Proxy.OnlineAtms);
    }

    [Fact]
    public async Task Every_line_of_a_withdrawal_names_the_ATM_and_STAN_and_none_carries_field_127_and_metrics_count_it()
    {
        await using var fixture = await ProxyFixture.StartAsync();
        await using var atm = await FakeAtm.StartAsync("ATM00001", fixture.Proxy.AtmEndPoint);
        await fixture.Proxy.WaitForAtmStateAsync("ATM00001", AtmLinkState.Online, Deadline.Token);
        await using var phone = await FakePhone.StartAsync(fixture.Proxy.PhoneEndPoint);

        await phone.SendAsync(FakePhone.Withdrawal("ATM00001", 314));
        await phone.SendAsync(FakePhone.Withdrawal("ATM00404", 315));

        var protectedHex = Convert.ToHexString(FakePhone.ProtectedData);
        var proxyLines = fixture.Logs.Lines.Where(l => l.Category == typeof(ProxyServer).FullName).ToArray();
        var withdrawalLines = proxyLines.Where(l => l.EventId is >= 30 and < 40).ToArray();
        Assert.Equal(3, withdrawalLines.Length); // forwarding, answered, and the unknown ATM's decline
        Assert.All(withdrawalLines, l =>
        {
            Assert.True(l.Values.ContainsKey("AtmId"), l.Text);
            Assert.True(l.Values.ContainsKey("PhoneStan"), l.Text);
            Assert.Equal("JIPQZHS3PURWRIHT", l.Values["Session"]);
        });
        Assert.Contains(withdrawalLines, l => l.Values["PhoneStan"] as string == "000314" && l.Values["AtmId"] as string == "ATM00001" && l.EventId == 31);
        Assert.Contains(withdrawalLines, l => l.Values["PhoneStan"] as string == "000315" && l.Values["AtmId"] as string == "ATM00404" && l.EventId == 32);
        Assert.All(fixture.Logs.Lines, l => Assert.DoesNotContain(protectedHex[..16], l.Text, StringComparison.OrdinalIgnoreCase));

        var requests = fixture.Metrics.Of("cardless_atm.proxy.requests");
        Assert.Contains(requests, m => m.Tags["outcome"] == ForwardOutcomes.Answered && m.Tags["response_code"] == "00");
        Assert.Contains(requests, m => m.Tags["outcome"] == ForwardOutcomes.UnknownAtm && m.Tags["response_code"] == "92");
        var latency = Assert.Single(fixture.Metrics.Of("cardless_atm.proxy.forward.duration"));
        Assert.Equal(ForwardOutcomes.Answered, latency.Tags["outcome"]);
        Assert.Equal(1, fixture.Metrics.Observe("cardless_atm.proxy.atms.registered"));
        Assert.Equal(ProxyMetrics.MeterName, fixture.Proxy.Metrics.Meter.Name);
    }

    [Fact]
    public async Task The_registered_gauge_follows_sign_on_and_disconnect()
    {
        var time = new FakeTimeProvider();
        await using var fixture = await ProxyFixture.StartAsync(time: time);
        Assert.Equal(0, fixture.Metrics.Observe("cardless_atm.proxy.atms.registered"));
        var atm = await FakeAtm.StartAsync("ATM00001", fixture.Proxy.AtmEndPoint);
        await fixture.Proxy.WaitForAtmStateAsync("ATM00001", AtmLinkState.Online, Deadline.Token);
        Assert.Equal(1, fixture.Metrics.Observe("cardless_atm.proxy.atms.registered"));
        await atm.DisposeAsync();
        await fixture.Proxy.WaitForAtmStateAsync("ATM00001", AtmLinkState.Offline, Deadline.Token);
        Assert.Equal(0, fixture.Metrics.Observe("cardless_atm.proxy.atms.registered"));
        Assert.Contains(fixture.Logs.Lines, l => l.Level == LogLevel.Information && l.EventId == 10);
    }
}
