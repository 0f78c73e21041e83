using CardlessAtm.Iso8583;
using CardlessAtm.Security;
using Microsoft.Extensions.Time.Testing;

namespace CardlessAtm.Proxy.Tests;

/// <summary>
/// ATM identity on the proxy's ATM port (issue 12): mutual TLS with a certificate per ATM from the pinned ATM CA, and
/// a sign-on accepted only for the id the certificate names. Real listeners, TLS 1.3 on loopback.
/// </summary>
public sealed class AtmIdentityTests
{
    private static FakeTimeProvider NewClock() => new(new DateTimeOffset(2026, 11, 25, 12, 0, 0, TimeSpan.Zero));

    [Theory]
    [InlineData("no certificate")]
    [InlineData("a certificate for another ATM id")]
    [InlineData("a certificate from another CA")]
    public async Task An_impostor_arriving_first_is_refused_and_the_real_ATM_is_served(string impostorHolds)
    {
        var time = NewClock();
        using var pki = new AtmPki(time);
        await using var fixture = await ProxyFixture.StartAsync(pki.Configure, time);
        var impostorCertificate = impostorHolds switch
        {
            "no certificate" => null,
            "a certificate for another ATM id" => pki.Issue("ATM00002"),
            _ => pki.IssueByStranger("ATM00001"),
        };

        var attempt = await SignOnAttempt.TryAsync(fixture.Proxy.AtmEndPoint, pki.Client(impostorCertificate), "ATM00001");

        Assert.NotEqual(ResponseCodes.Approved, attempt.ResponseCode);
        if (impostorHolds == "a certificate for another ATM id")
        {
            Assert.Equal(ResponseCodes.SecurityViolation, attempt.ResponseCode);
            Assert.Contains(fixture.Logs.Lines, l => l.EventId == 20 && l.Values["AtmId"] as string == "ATM00001" && l.Values["CertifiedAtmId"] as string == "ATM00002");
        }
        else
        {
            Assert.Null(attempt.ResponseCode); // the TLS handshake refused it: it never got to send a sign-on
            await Eventually.TrueAsync(() => fixture.Logs.Lines.Any(l => l.EventId == 900));
        }

        Assert.Equal(AtmLinkState.Unknown, fixture.Proxy.GetAtmState("ATM00001"));
        Assert.Empty(fixture.Proxy.OnlineAtms);

        await using var real = await FakeAtm.StartAsync("ATM00001", fixture.Proxy.AtmEndPoint, pki.Client(pki.Issue("ATM00001")));
        await fixture.Proxy.WaitForAtmStateAsync("ATM00001", AtmLinkState.Online, Deadline.Token);
        await Served.AssertServedByAsync(fixture, real, "ATM00001", 1);
    }

    [Fact]
    public async Task An_online_ATM_id_is_not_taken_over_even_by_a_connection_with_its_own_certificate()
    {
        var time = NewClock();
        using var pki = new AtmPki(time);
        await using var fixture = await ProxyFixture.StartAsync(pki.Configure, time);
        var certificate = pki.Issue("ATM00001");
        await using var real = await FakeAtm.StartAsync("ATM00001", fixture.Proxy.AtmEndPoint, pki.Client(certificate));
        await fixture.Proxy.WaitForAtmStateAsync("ATM00001", AtmLinkState.Online, Deadline.Token);

        var twin = await SignOnAttempt.TryAsync(fixture.Proxy.AtmEndPoint, pki.Client(certificate), "ATM00001");

        Assert.Equal(ResponseCodes.DuplicateTransmission, twin.ResponseCode);
        await Served.AssertServedByAsync(fixture, real, "ATM00001", 2);
    }

    [Fact]
    public async Task After_a_proxy_restart_an_impostor_is_refused_and_the_real_ATM_gets_its_id_back()
    {
        var time = NewClock();
        using var pki = new AtmPki(time);
        var genuine = pki.Issue("ATM00001");
        var other = pki.Issue("ATM00002");
        int port;
        await using (var first = await ProxyFixture.StartAsync(pki.Configure, time))
        {
            port = first.Proxy.AtmEndPoint.Port;
            await using var before = await FakeAtm.StartAsync("ATM00001", first.Proxy.AtmEndPoint, pki.Client(genuine));
            await first.Proxy.WaitForAtmStateAsync("ATM00001", AtmLinkState.Online, Deadline.Token);
        }

        // The restarted proxy knows no ATM; the impostors are quicker to dial in than the real ATM.
        await using var restarted = await StartOnPortAsync(pki, time, port);
        var noCertificate = await SignOnAttempt.TryAsync(restarted.Proxy.AtmEndPoint, pki.Client(null), "ATM00001");
        var wrongCertificate = await SignOnAttempt.TryAsync(restarted.Proxy.AtmEndPoint, pki.Client(other), "ATM00001");

        Assert.Null(noCertificate.ResponseCode);
        Assert.Equal(ResponseCodes.SecurityViolation, wrongCertificate.ResponseCode);
        Assert.Equal(AtmLinkState.Unknown, restarted.Proxy.GetAtmState("ATM00001"));

        await using var real = await FakeAtm.StartAsync("ATM00001", restarted.Proxy.AtmEndPoint, pki.Client(genuine));
        await restarted.Proxy.WaitForAtmStateAsync("ATM00001", AtmLinkState.Online, Deadline.Token);
        Assert.Equal(port, restarted.Proxy.AtmEndPoint.Port);
        await Served.AssertServedByAsync(restarted, real, "ATM00001", 3);
    }

    [Fact]
    public async Task A_certificate_put_on_the_deny_list_is_refused_from_the_next_handshake_without_a_restart()
    {
        var time = NewClock();
        using var pki = new AtmPki(time);
        await using var fixture = await ProxyFixture.StartAsync(pki.Configure, time);
        var bySerial = pki.Issue("ATM00002");
        var byThumbprint = pki.Issue("ATM00003");
        var untouched = pki.Issue("ATM00001");
        Assert.Equal(ResponseCodes.Approved, (await SignOnAttempt.TryAsync(fixture.Proxy.AtmEndPoint, pki.Client(bySerial), "ATM00002")).ResponseCode);
        Assert.Equal(ResponseCodes.Approved, (await SignOnAttempt.TryAsync(fixture.Proxy.AtmEndPoint, pki.Client(byThumbprint), "ATM00003")).ResponseCode);

        pki.Deny(AtmCertificates.SerialText(bySerial) + "  # ATM00002 stolen");
        pki.Deny(CertificateDenyList.ThumbprintPrefix + Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(byThumbprint.RawData)).ToLowerInvariant());

        Assert.Null((await SignOnAttempt.TryAsync(fixture.Proxy.AtmEndPoint, pki.Client(bySerial), "ATM00002")).ResponseCode);
        Assert.Null((await SignOnAttempt.TryAsync(fixture.Proxy.AtmEndPoint, pki.Client(byThumbprint), "ATM00003")).ResponseCode);
        Assert.Contains(fixture.Logs.Lines, l => l.EventId == 901);
        Assert.Contains(fixture.Logs.Lines, l => l.EventId == 900 && (l.Values["Problem"] as string)!.Contains("deny list", StringComparison.Ordinal));
        await using var real = await FakeAtm.StartAsync("ATM00001", fixture.Proxy.AtmEndPoint, pki.Client(untouched));
        await Served.AssertServedByAsync(fixture, real, "ATM00001", 4);
    }

    [Fact]
    public async Task A_deny_list_that_turns_unreadable_keeps_the_previous_entries_in_force()
    {
        var time = NewClock();
        using var pki = new AtmPki(time);
        await using var fixture = await ProxyFixture.StartAsync(pki.Configure, time);
        var revoked = pki.Issue("ATM00002");
        pki.Deny(AtmCertificates.SerialText(revoked));
        Assert.Null((await SignOnAttempt.TryAsync(fixture.Proxy.AtmEndPoint, pki.Client(revoked), "ATM00002")).ResponseCode);

        File.WriteAllText(pki.DenyListPath, "this line is not an entry\n");

        Assert.Null((await SignOnAttempt.TryAsync(fixture.Proxy.AtmEndPoint, pki.Client(revoked), "ATM00002")).ResponseCode);
        Assert.Contains(fixture.Logs.Lines, l => l.EventId == 902);
    }

    [Fact]
    public async Task Plain_TCP_on_the_ATM_port_needs_Insecure_true_and_then_logs_a_warning()
    {
        var refused = Assert.Throws<ConfigurationException>(() => new ProxyServer(ProxyFixture.LoopbackOptions(o => o.Atm.Insecure = false)));
        Assert.Equal("Proxy:Atm:Tls:ClientCaCertificatePath", refused.Setting);
        Assert.Contains("Proxy:Atm:Insecure", refused.Message, StringComparison.Ordinal);

        await using var fixture = await ProxyFixture.StartAsync(o => o.Atm.Insecure = true);
        Assert.Contains(fixture.Logs.Lines, l => l.EventId == 3 && l.Level == Microsoft.Extensions.Logging.LogLevel.Warning);
    }

    [Fact]
    public async Task A_deny_list_or_CA_file_that_cannot_be_read_at_start_up_names_its_setting()
    {
        var time = NewClock();
        using var pki = new AtmPki(time);
        File.WriteAllText(pki.DenyListPath, "serial:not-hex\n");
        var badList = await Assert.ThrowsAsync<ConfigurationException>(() => ProxyFixture.StartAsync(pki.Configure, time));
        Assert.Equal("Proxy:Atm:Tls:DenyListPath", badList.Setting);
        Assert.Contains("line 1", badList.Message, StringComparison.Ordinal);

        var missingCa = await Assert.ThrowsAsync<ConfigurationException>(() => ProxyFixture.StartAsync(
            o =>
            {
                pki.Configure(o);
                o.Atm.Tls.DenyListPath = null;
                o.Atm.Tls.ClientCaCertificatePath = pki.AuthorityPath + ".missing";
            },
            time));
        Assert.Equal("Proxy:Atm:Tls:ClientCaCertificatePath", missingCa.Setting);
    }

    private static async Task<ProxyFixture> StartOnPortAsync(AtmPki pki, FakeTimeProvider time, int port)
    {
        // The old listener's port can take a moment to be free again.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await ProxyFixture.StartAsync(
                    o =>
                    {
                        pki.Configure(o);
                        o.Atm.Port = port;
                    },
                    time);
            }
            catch (ConfigurationException) when (attempt < 50)
            {
                await Task.Delay(100, Deadline.Token);
            }
        }
    }
}
