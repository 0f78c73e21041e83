using System.Net;

namespace CardlessAtm.Panel.Tests;

/// <summary>Attacks on the panel's real listener that found a weakness (docs/panel.md, Security).</summary>
public sealed class PanelAdversaryTests(PanelFixture fixture) : IClassFixture<PanelFixture>
{
    [Fact]
    public async Task The_token_from_the_page_link_never_reaches_a_log()
    {
        const string token = "log-leak-0123456789-secret";
        var loggers = new CapturingLoggers();
        await using var server = await PanelServer.StartAsync(fixture.Panel.PanelAtm, new PanelOptions { Token = token }, loggers);
        using var handler = new HttpClientHandler { AllowAutoRedirect = false, UseCookies = false };
        using var client = new HttpClient(handler) { BaseAddress = server.Url };

        using (var link = await client.GetAsync($"/?token={token}"))
        {
            Assert.Equal(HttpStatusCode.Redirect, link.StatusCode);
        }

        using (var wrong = await client.GetAsync($"/api/state?token={token}"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        }

        using (var header = new HttpRequestMessage(HttpMethod.Get, "/api/state"))
        {
            header.Headers.Add(PanelServer.TokenHeader, token);
            using var ok = await client.SendAsync(header);
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }

        Assert.DoesNotContain(loggers.Lines, l => l.Contains(token, StringComparison.Ordinal));
    }
}
