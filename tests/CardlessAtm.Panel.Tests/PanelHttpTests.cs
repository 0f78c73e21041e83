using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using CardlessAtm.Cli.Demo;
using CardlessAtm.Phone.Scanning;
using Microsoft.Extensions.Logging.Abstractions;

namespace CardlessAtm.Panel.Tests;

/// <summary>One demo network with its panel for the HTTP-level tests.</summary>
public sealed class PanelFixture : IAsyncLifetime
{
    internal DemoPanel Panel { get; private set; } = null!;

    public HttpClient Client { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Panel = await DemoPanel.StartAsync(new PanelOptions(), NullLoggerFactory.Instance, CancellationToken.None);
        Client = new HttpClient { BaseAddress = Panel.Server.Url, Timeout = TimeSpan.FromSeconds(60) };
    }

    public async Task DisposeAsync()
    {
        Client.Dispose();
        await Panel.DisposeAsync();
    }
}

/// <summary>The panel's endpoints over HTTP: bad input is 400 naming the field; the security rules hold.</summary>
public sealed class PanelHttpTests(PanelFixture fixture) : IClassFixture<PanelFixture>
{
    private HttpClient Client => fixture.Client;

    [Theory]
    [InlineData("/api/keys", """{}""", "key")]
    [InlineData("/api/keys", """{"key":"x"}""", "key")]
    [InlineData("/api/keys", """{"key":5}""", "key")]
    [InlineData("/api/keys", """{"key":"0123456789abcdefghij"}""", "key")]
    [InlineData("/api/keys", """not json""", "body")]
    [InlineData("/api/keys", """["enter"]""", "body")]
    [InlineData("/api/faults", """{"name":"flood","on":true}""", "name")]
    [InlineData("/api/faults", """{"name":"jam"}""", "on")]
    [InlineData("/api/faults", """{"name":"jam","on":"yes"}""", "on")]
    [InlineData("/api/faults", """{"name":"cassette-removed","on":true}""", "position")]
    [InlineData("/api/faults", """{"name":"cassette-removed","on":true,"position":9}""", "position")]
    [InlineData("/api/faults", """{"name":"double-note-reject","on":true,"position":1.5}""", "position")]
    [InlineData("/api/phones/0/scan", """{}""", "pane")]
    [InlineData("/api/phones/5/scan", """{}""", "pane")]
    [InlineData("/api/phones/x/withdraw", """{}""", "pane")]
    [InlineData("/api/phones/1/withdraw", """{"account":"100000000001","pin":"1234"}""", "phone")]
    [InlineData("/api/phones/1/withdraw", """{"phone":7,"account":"100000000001","pin":"1234"}""", "phone")]
    [InlineData("/api/phones/1/withdraw", """{"phone":0,"account":"10000000000a","pin":"1234"}""", "account")]
    [InlineData("/api/phones/1/withdraw", """{"phone":0,"account":"12345678901234567890","pin":"1234"}""", "account")]
    [InlineData("/api/phones/1/withdraw", """{"phone":0,"account":"100000000001","pin":"12"}""", "pin")]
    [InlineData("/api/phones/1/withdraw", """{"phone":0,"account":"100000000001","pin":"12ab"}""", "pin")]
    [InlineData("/api/phones/1/withdraw", """{"phone":0,"account":"100000000001"}""", "pin")]
    [InlineData("/api/keys", """{"key":"clear","key":"clear"}""", "key")]
    [InlineData("/api/keys", """{"key":"clear","extra":true}""", "extra")]
    [InlineData("/api/faults", """{"name":"jam","on":false,"on":false}""", "on")]
    [InlineData("/api/take-notes", """{"count":5}""", "count")]
    [InlineData("/api/phones/4/withdraw", """{"phone":0,"account":"100000000001","pin":"1234","amount":"999.00"}""", "amount")]
    [InlineData("/api/saf/retry", """{}""", "id")]
    [InlineData("/api/saf/retry", """{"id":7}""", "id")]
    [InlineData("/api/saf/retry", """{"id":"../../etc/passwd"}""", "id")]
    [InlineData("/api/saf/retry", """{"id":"000001-0101120000","force":true}""", "force")]
    public async Task Malformed_or_out_of_range_input_is_400_with_a_message_naming_the_field(string path, string body, string field)
    {
        using var response = await Client.PostAsync(path, new StringContent(body, Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(field, error.GetProperty("field").GetString());
        Assert.StartsWith(field + ": ", error.GetProperty("error").GetString(), StringComparison.Ordinal);
    }

    /// <summary>A chunked body with no Content-Length that never ends: the 400 comes after 4096 bytes, not when (if ever) the body ends.</summary>
    [Fact]
    public async Task An_endless_chunked_body_is_refused_once_it_passes_the_limit_without_waiting_for_its_end()
    {
        using var socket = new System.Net.Sockets.TcpClient();
        await socket.ConnectAsync(IPAddress.Loopback, fixture.Panel.Server.Url.Port);
        var stream = socket.GetStream();
        var chunk = new string(' ', 8192);
        var head = $"POST /api/keys HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{chunk.Length:x}\r\n{chunk}\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head)); // and no last chunk: the body never ends

        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var answer = new byte[512];
        var read = await stream.ReadAsync(answer, patience.Token);
        var text = Encoding.ASCII.GetString(answer, 0, read);

        Assert.StartsWith("HTTP/1.1 400", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("application/jsonp")]
    [InlineData("application/json-seq")]
    [InlineData("application/jsonx; charset=utf-8")]
    public async Task A_content_type_that_only_starts_like_json_is_refused(string contentType)
    {
        using var content = new StringContent("""{"key":"clear"}""");
        content.Headers.Remove("Content-Type");
        content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        using var response = await Client.PostAsync("/api/keys", content);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("body: must be a JSON object", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_post_that_is_not_json_is_refused_so_a_cross_site_form_cannot_press_keys_or_open_the_door()
    {
        using var response = await Client.PostAsync("/api/faults", new FormUrlEncodedContent(new Dictionary<string, string> { ["name"] = "safe-door", ["on"] = "true" }));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("body: must be a JSON object", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(Devices.Sensors.SensorState.Normal, ((SimulatedPanelRig)fixture.Panel.PanelAtm.Rig).Sensors.Status.StateOf(Devices.Sensors.SensorKind.SafeDoor));
    }

    [Fact]
    public async Task Withdrawing_before_scanning_is_a_conflict_and_sends_nothing()
    {
        using var response = await Client.PostAsync("/api/phones/4/withdraw", Json("""{"phone":0,"account":"100000000001","pin":"1234"}"""));

        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        Assert.Contains("scan the QR code first", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Retrying_a_reversal_that_is_not_in_the_queue_is_404_naming_the_id()
    {
        using var response = await Client.PostAsync("/api/saf/retry", Json("""{"id":"000001-0101120000"}"""));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        var error = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("id", error.GetProperty("field").GetString());
        Assert.Contains("no reversal '000001-0101120000'", error.GetProperty("error").GetString(), StringComparison.Ordinal);
        var state = await Client.GetFromJsonAsync<JsonElement>("/api/state");
        Assert.Equal(JsonValueKind.Array, state.GetProperty("saf").ValueKind);
    }

    [Fact]
    public async Task Account_ids_are_masked_in_the_page_its_api_answers_and_its_log()
    {
        var loggers = new CapturingLoggers();
        await using var server = await PanelServer.StartAsync(fixture.Panel.PanelAtm, new PanelOptions(), loggers);
        using var client = new HttpClient { BaseAddress = server.Url };
        var customers = fixture.Panel.Network.Seed.Customers;

        var answers = new List<string>
        {
            await client.GetStringAsync("/"),
            await client.GetStringAsync("/panel.js"),
            await client.GetStringAsync("/api/state"),
        };
        foreach (var customer in customers)
        {
            // A withdrawal the panel refuses (no scan yet, a malformed PIN) must not echo the account it was given.
            using var early = await client.PostAsync("/api/phones/3/withdraw", Json($$"""{"phone":0,"account":"{{customer.AccountId}}","pin":"1234"}"""));
            using var badPin = await client.PostAsync("/api/phones/3/withdraw", Json($$"""{"phone":0,"account":"{{customer.AccountId}}","pin":"12"}"""));
            Assert.Equal(HttpStatusCode.Conflict, early.StatusCode);
            Assert.Equal(HttpStatusCode.BadRequest, badPin.StatusCode);
            answers.Add(await early.Content.ReadAsStringAsync());
            answers.Add(await badPin.Content.ReadAsStringAsync());
        }

        foreach (var customer in customers)
        {
            Assert.DoesNotContain(answers, a => a.Contains(customer.AccountId, StringComparison.Ordinal));
            Assert.DoesNotContain(loggers.Lines, l => l.Contains(customer.AccountId, StringComparison.Ordinal));
        }

        var state = await client.GetFromJsonAsync<JsonElement>("/api/state");
        var rows = state.GetProperty("ledger").GetProperty("accounts").EnumerateArray().ToList();
        Assert.Equal(customers.Count, rows.Count);
        for (var i = 0; i < rows.Count; i++)
        {
            Assert.Equal(i + 1, rows[i].GetProperty("row").GetInt32());
            Assert.Equal(Phone.Credentials.AccountIds.Mask(customers[i].AccountId), rows[i].GetProperty("account").GetString());
            Assert.EndsWith(customers[i].AccountId[^4..], rows[i].GetProperty("account").GetString(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_request_for_another_host_name_is_refused_against_dns_rebinding()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/state");
        request.Headers.Host = "attacker.example";
        using var response = await Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("Host:", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_panel_binds_loopback_by_default_and_serves_the_page_and_the_screen_png()
    {
        Assert.True(IPAddress.IsLoopback(IPAddress.Parse(fixture.Panel.Server.Url.Host)));
        var page = await Client.GetStringAsync("/");
        Assert.Contains("Cardless ATM front panel", page, StringComparison.Ordinal);
        var png = await Client.GetByteArrayAsync("/api/screen.png");
        Assert.True(QrImageReader.LooksLikePng(png));
        using var state = await Client.GetAsync("/api/state");
        Assert.Equal(HttpStatusCode.OK, state.StatusCode);
        Assert.Equal("nosniff", state.Headers.GetValues("X-Content-Type-Options").Single());
    }

    [Fact]
    public async Task Switches_act_on_the_simulated_devices_and_read_back()
    {
        var atm = (SimulatedPanelRig)fixture.Panel.PanelAtm.Rig;
        try
        {
            using (var on = await Client.PostAsync("/api/faults", Json("""{"name":"double-note-reject","on":true,"position":2}""")))
            {
                Assert.Equal(HttpStatusCode.OK, on.StatusCode);
            }

            Assert.Contains(2, atm.Dispenser.Faults.PickFailures);
            using (var silent = await Client.PostAsync("/api/faults", Json("""{"name":"dispenser-silent","on":true}""")))
            {
                Assert.Equal(HttpStatusCode.OK, silent.StatusCode);
            }

            Assert.True(atm.Dispenser.Faults.NoAnswer);
            var state = await Client.GetFromJsonAsync<JsonElement>("/api/state");
            var faults = state.GetProperty("faults").EnumerateArray().ToDictionary(f => f.GetProperty("name").GetString()!);
            Assert.True(faults["dispenser-silent"].GetProperty("on").GetBoolean());
            Assert.Equal([2], faults["double-note-reject"].GetProperty("positions").EnumerateArray().Select(p => p.GetInt32()));
        }
        finally
        {
            (await Client.PostAsync("/api/faults", Json("""{"name":"double-note-reject","on":false,"position":2}"""))).Dispose();
            (await Client.PostAsync("/api/faults", Json("""{"name":"dispenser-silent","on":false}"""))).Dispose();
        }

        Assert.Empty(atm.Dispenser.Faults.PickFailures);
        Assert.False(atm.Dispenser.Faults.NoAnswer);
    }

    [Fact]
    public async Task A_token_when_set_is_required_on_every_request_and_the_page_link_sets_it_as_a_cookie()
    {
        const string token = "0123456789abcdef-secret";
        await using var server = await PanelServer.StartAsync(fixture.Panel.PanelAtm, new PanelOptions { Token = token }, NullLoggerFactory.Instance);
        using var handler = new HttpClientHandler { AllowAutoRedirect = false, UseCookies = true, CookieContainer = new CookieContainer() };
        using var client = new HttpClient(handler) { BaseAddress = server.Url };

        using (var anonymous = await client.GetAsync("/api/state"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        }

        using (var wrong = await client.GetAsync("/?token=not-the-token-at-all"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        }

        using (var header = new HttpRequestMessage(HttpMethod.Get, "/api/state"))
        {
            header.Headers.Add(PanelServer.TokenHeader, token);
            using var withHeader = await client.SendAsync(header);
            Assert.Equal(HttpStatusCode.OK, withHeader.StatusCode);
        }

        using (var link = await client.GetAsync($"/?token={token}"))
        {
            Assert.Equal(HttpStatusCode.Redirect, link.StatusCode);
        }

        using var withCookie = await client.GetAsync("/api/state");
        Assert.Equal(HttpStatusCode.OK, withCookie.StatusCode);
    }

    [Fact]
    public async Task The_panel_refuses_to_start_on_a_rig_with_a_real_device_unless_allowed()
    {
        var real = Copy(fixture.Panel.PanelAtm, new Dictionary<string, string?> { ["Display"] = "Simulated", ["Dispenser"] = "Lcdm2000" });

        var refused = await Assert.ThrowsAsync<PanelRefusedException>(() => PanelServer.StartAsync(real, new PanelOptions()));
        Assert.Contains("Devices:Dispenser:Kind=Lcdm2000", refused.Message, StringComparison.Ordinal);
        Assert.Contains("Panel:AllowRealDevices", refused.Message, StringComparison.Ordinal);

        await using var allowed = await PanelServer.StartAsync(real, new PanelOptions { AllowRealDevices = true });
        Assert.NotNull(allowed.Url);
    }

    [Theory]
    [InlineData("0.0.0.0", false, null, "Panel:AllowRemote")]
    [InlineData("0.0.0.0", true, null, "Panel:Token")]
    [InlineData("192.0.2.10", true, "short", "at least 16")]
    [InlineData("localhost", false, null, "not an IP address")]
    [InlineData("127.0.0.1", false, "short", "at least 16")]
    [InlineData("0.0.0.0", true, "                ", "whitespace")]
    [InlineData("0.0.0.0", true, "0123456789abcdef\t", "whitespace")]
    [InlineData("127.0.0.1", false, " 0123456789abcdef", "whitespace")]
    public void Binding_beyond_loopback_needs_an_explicit_setting_and_a_shared_secret(string address, bool allowRemote, string? token, string message)
    {
        var options = new PanelOptions { Address = address, AllowRemote = allowRemote, Token = token };

        var refused = Assert.Throws<PanelRefusedException>(() => options.Validate());
        Assert.Contains(message, refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Another_address_with_the_setting_and_a_token_is_accepted()
    {
        var options = new PanelOptions { Address = "0.0.0.0", AllowRemote = true, Token = "0123456789abcdef" };

        Assert.Equal(IPAddress.Any, options.Validate());
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    private static PanelAtm Copy(PanelAtm atm, IReadOnlyDictionary<string, string?> kinds) => new()
    {
        Terminal = atm.Terminal,
        Rig = atm.Rig,
        Host = atm.Host,
        Phones = atm.Phones,
        Accounts = atm.Accounts,
        DeviceKinds = kinds,
    };
}

/// <summary>The link switches cut the wire, not the flow: the terminal loses its host and finds it again.</summary>
public sealed class PanelLinkTests
{
    [Fact]
    public async Task Host_link_down_takes_the_terminal_out_of_service_and_back_when_restored()
    {
        await using var panel = await DemoPanel.StartAsync(new PanelOptions(), NullLoggerFactory.Instance, CancellationToken.None);
        using var client = new HttpClient { BaseAddress = panel.Server.Url };
        var terminal = panel.Atm.Terminal;
        Assert.True(terminal.IsHostReady);

        (await client.PostAsync("/api/faults", new StringContent("""{"name":"host-link-down","on":true}""", Encoding.UTF8, "application/json"))).EnsureSuccessStatusCode().Dispose();
        await WaitAsync(() => !terminal.IsHostReady, "the terminal to lose its host");
        var state = await client.GetFromJsonAsync<JsonElement>("/api/state");
        Assert.False(state.GetProperty("terminal").GetProperty("hostReady").GetBoolean());

        (await client.PostAsync("/api/faults", new StringContent("""{"name":"host-link-down","on":false}""", Encoding.UTF8, "application/json"))).EnsureSuccessStatusCode().Dispose();
        using var online = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await terminal.WaitUntilHostReadyAsync(online.Token);
        await terminal.Flow.WaitForStateAsync(s => s == Terminal.Flow.TerminalState.Idle, online.Token);
    }

    private static async Task WaitAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for {what}");
            await Task.Delay(50);
        }
    }
}
