using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using CardlessAtm.Phone.Scanning;

namespace CardlessAtm.Panel.Tests;

/// <summary><c>cardless-atm panel</c> as a process: serves on loopback with <c>--demo</c>, refuses what it must.</summary>
public sealed partial class PanelCommandTests
{
    [Theory]
    [InlineData("cardless-atm terminal --panel", "panel")]
    [InlineData("Panel:AllowRealDevices", "panel", "--demo", "--set", "Devices:Dispenser:Kind=Lcdm2000")]
    [InlineData("Panel:AllowRemote", "panel", "--demo", "--address", "0.0.0.0")]
    [InlineData("Panel:Token", "panel", "--demo", "--address", "0.0.0.0", "--set", "Panel:AllowRemote=true")]
    public async Task Refuses_with_exit_2_and_says_which_setting(string expected, params string[] args)
    {
        using var process = Start(args, out var output);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        process.WaitForExit(); // the output's last lines

        Assert.Equal(2, process.ExitCode);
        Assert.Contains(expected, string.Join('\n', output), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Panel_demo_prints_a_loopback_url_that_serves_the_page()
    {
        using var process = Start(["panel", "--demo"], out var output);
        try
        {
            var address = await WaitForUrlAsync(process, output);
            Assert.True(IPAddress.IsLoopback(IPAddress.Parse(address.Host)));
            using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
            Assert.Contains("Cardless ATM front panel", await client.GetStringAsync(address), StringComparison.Ordinal);
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    /// <summary>
    /// ASP.NET Core's own settings (Kestrel:Endpoints, ASPNETCORE_URLS) from the environment or an appsettings.json must not add an
    /// endpoint next to the panel's: it bound 0.0.0.0 without Panel:AllowRemote or a token, and the Host check let Host: localhost through.
    /// </summary>
    [Theory]
    [InlineData("Kestrel__Endpoints__Wide__Url", null)]
    [InlineData("ASPNETCORE_Kestrel__Endpoints__Wide__Url", null)]
    [InlineData("ASPNETCORE_URLS", "ASPNETCORE_PREFERHOSTINGURLS")]
    public async Task Aspnetcore_endpoint_settings_in_the_environment_do_not_widen_the_binding(string variable, string? prefer)
    {
        var wide = FreePort();
        var environment = new Dictionary<string, string> { [variable] = $"http://0.0.0.0:{wide}" };
        if (prefer is not null)
        {
            environment[prefer] = "true";
        }

        using var process = Start(["panel", "--demo"], out var output, environment);
        try
        {
            var address = await WaitForUrlAsync(process, output);
            using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
            Assert.Contains("Cardless ATM front panel", await client.GetStringAsync(address), StringComparison.Ordinal);
            using var probe = new TcpClient();
            await Assert.ThrowsAnyAsync<SocketException>(() => probe.ConnectAsync(IPAddress.Loopback, wide));
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    /// <summary>
    /// <c>terminal --panel</c> serves the panel from the terminal's own process, on its own devices: its screen and cash
    /// units, with the demo-only panes (ledger, phones, link switches) marked unavailable. The host is never reachable here
    /// (port 9), so the terminal stays out of service; the panel shows exactly that.
    /// </summary>
    [Fact]
    public async Task Terminal_with_panel_serves_the_terminals_own_screen_and_cash_units()
    {
        var directory = TerminalDirectory();
        using var process = Start(["terminal", "--panel", .. TerminalSettings(directory)], out var output);
        try
        {
            var address = await WaitForUrlAsync(process, output);
            Assert.Contains(output, l => l.Contains("Front panel of ATM00042 (attached to this terminal)", StringComparison.Ordinal));
            using var client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(30) };
            JsonElement state = default;
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            do
            {
                Assert.True(DateTime.UtcNow < deadline, "the terminal never drew a screen:\n" + string.Join('\n', output));
                await Task.Delay(100);
                state = await client.GetFromJsonAsync<JsonElement>("/api/state");
            }
            while (state.GetProperty("screen").GetProperty("title").ValueKind != JsonValueKind.String);

            Assert.Equal("attached to this terminal", state.GetProperty("mode").GetString());
            Assert.Equal("ATM00042", state.GetProperty("terminal").GetProperty("atmId").GetString());
            Assert.Equal("OutOfService", state.GetProperty("terminal").GetProperty("state").GetString());
            var units = state.GetProperty("cashUnits").EnumerateArray().ToDictionary(u => u.GetProperty("id").GetString()!, u => u.GetProperty("count").GetInt32());
            Assert.Equal(new Dictionary<string, int> { ["CASS1"] = 500, ["CASS2"] = 500 }, units);
            var available = state.GetProperty("available");
            Assert.False(available.GetProperty("ledger").GetBoolean());
            Assert.False(available.GetProperty("phones").GetBoolean());
            Assert.False(available.GetProperty("hostLink").GetBoolean());
            Assert.Equal(JsonValueKind.Null, state.GetProperty("ledger").ValueKind);
            Assert.True(QrImageReader.LooksLikePng(await client.GetByteArrayAsync("/api/screen.png")));

            using var scan = await client.PostAsync("/api/phones/1/scan", new StringContent("{}", System.Text.Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.Conflict, scan.StatusCode);
            Assert.Contains("panel --demo", await scan.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            using var link = await client.PostAsync("/api/faults", new StringContent("""{"name":"host-link-down","on":true}""", System.Text.Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.BadRequest, link.StatusCode);

            // The switches act on the terminal's own simulated devices: its fault check sees the door.
            using var door = await client.PostAsync("/api/faults", new StringContent("""{"name":"safe-door","on":true}""", System.Text.Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.OK, door.StatusCode);
            var after = await client.GetFromJsonAsync<JsonElement>("/api/state");
            Assert.Contains(after.GetProperty("verdict").GetProperty("reasons").EnumerateArray(), r => r.GetProperty("code").GetString() == "SafeDoorOpen");
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    [Theory]
    [InlineData("Panel:AllowRealDevices", "--panel", "--set", "Devices:Dispenser:Kind=Lcdm2000")]
    [InlineData("Panel:AllowRealDevices", "--set", "Panel:Enabled=true", "--set", "Devices:Display:Kind=Console")]
    [InlineData("Panel:AllowRemote", "--panel", "--set", "Panel:Address=0.0.0.0")]
    public async Task Terminal_with_panel_refuses_real_devices_and_unsafe_bindings_before_it_starts(string expected, params string[] args)
    {
        var directory = TerminalDirectory();
        using var process = Start(["terminal", .. args, .. TerminalSettings(directory)], out var output);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        process.WaitForExit();

        Assert.Equal(2, process.ExitCode);
        var text = string.Join('\n', output);
        Assert.Contains(expected, text, StringComparison.Ordinal);
        Assert.DoesNotContain("Front panel of", text, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(directory, "data", "journal.log")), "the terminal started although the panel was refused");
    }

    private static string TerminalDirectory()
    {
        var directory = Directory.CreateTempSubdirectory("panel-attach-").FullName;
        var keys = Path.Combine(directory, "keys");
        using var master = Security.SecretKey.Generate(Security.SecurityProfiles.Create(Security.SecurityProfileKind.Aes).TerminalMasterKeyAlgorithm);
        new Security.FileKeyStore(keys).SaveKey("tmk", master);
        return directory;
    }

    /// <summary>A terminal on the shipped Simulated rig whose host and proxy (port 9, discard) never answer.</summary>
    private static string[] TerminalSettings(string directory) =>
    [
        "--set", "Security:Profile=Aes",
        "--set", "Terminal:AtmId=ATM00042",
        "--set", "Terminal:Currency=EUR",
        "--set", "Terminal:Host:Address=127.0.0.1", "--set", "Terminal:Host:Port=9", "--set", "Terminal:Host:Insecure=true",
        "--set", "Terminal:Proxy:Address=127.0.0.1", "--set", "Terminal:Proxy:Port=9", "--set", "Terminal:Proxy:Insecure=true",
        "--set", $"Terminal:KeyStore={Path.Combine(directory, "keys")}",
        "--set", $"Terminal:DataDirectory={Path.Combine(directory, "data")}",
        "--set", $"Devices:Dispenser:Simulated:StateFile={Path.Combine(directory, "cash-units.json")}",
    ];

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task<Uri> WaitForUrlAsync(Process process, ConcurrentQueue<string> output)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        Match? url = null;
        while (url is not { Success: true })
        {
            Assert.False(process.HasExited, "the panel stopped:\n" + string.Join('\n', output));
            Assert.True(DateTime.UtcNow < deadline, "no URL printed:\n" + string.Join('\n', output));
            url = output.Select(l => Url().Match(l)).FirstOrDefault(m => m.Success);
            await Task.Delay(50);
        }

        return new Uri(url.Value);
    }

    /// <summary>The CLI's own build (its deps.json, not this test project's): src/CardlessAtm.Cli/bin/&lt;Configuration&gt;/net10.0/cardless-atm.dll.</summary>
    private static string CliPath()
    {
        var here = new DirectoryInfo(AppContext.BaseDirectory);
        var configuration = here.Parent!.Name;
        var root = here;
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "CardlessAtm.Devices.sln")))
        {
            root = root.Parent;
        }

        var path = Path.Combine(root?.FullName ?? throw new InvalidOperationException("Repository root not found."), "src", "CardlessAtm.Cli", "bin", configuration, "net10.0", "cardless-atm.dll");
        return File.Exists(path) ? path : throw new FileNotFoundException("Build the solution first: these tests start cardless-atm as a process.", path);
    }

    [GeneratedRegex(@"http://127\.0\.0\.1:\d+/")]
    private static partial Regex Url();

    private static Process Start(string[] args, out ConcurrentQueue<string> output, IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        start.ArgumentList.Add(CliPath());
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        var lines = new ConcurrentQueue<string>();
        var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start cardless-atm.");
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lines.Enqueue(e.Data);
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lines.Enqueue(e.Data);
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        process.StandardInput.Close();
        output = lines;
        return process;
    }
}
