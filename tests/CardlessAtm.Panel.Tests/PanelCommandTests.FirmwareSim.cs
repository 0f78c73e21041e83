using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using CardlessAtm.Cli.Demo;
using CardlessAtm.Host.Seeding;
using CardlessAtm.Phone.Scanning;
using CardlessAtm.Security;
using CardlessAtm.Terminal.Journal;
using Microsoft.Extensions.Logging.Abstractions;

namespace CardlessAtm.Panel.Tests;

/// <summary>
/// <c>cardless-atm terminal --rig firmware-sim --panel</c>: the panel attached to a terminal on the FirmwareSim rig, over the
/// terminal's own in-process emulators, and its refusals when a device is not on them.
/// </summary>
public sealed partial class PanelCommandTests
{
    /// <summary>
    /// A terminal process on the FirmwareSim rig, signed on at a real host and proxy (the demo network's, in this test's
    /// process), with the panel attached. Keys sent to the panel are tapped on the emulated key matrix and reach the flow
    /// (the mirror LCD's rows follow it to the amount and the QR), the served PNG is the ILI9341 emulator's framebuffer
    /// (240x320, and the QR the phone library decodes from it is the session the flow issued), and the safe-door switch
    /// opens the rig's reed switch, which the GPIO sensor driver reads into the fault check. Before the flow's first fault
    /// check the panel says the dispenser is not read yet (not a DispenserOffline nobody measured), and the flow's first
    /// verdict, journalled, is ready: it read the opened dispenser.
    /// </summary>
    [Fact]
    public async Task Terminal_on_the_firmware_sim_rig_with_panel_drives_the_rigs_emulators()
    {
        await using var network = await DemoNetwork.StartAsync(SecurityProfileKind.Aes, NullLoggerFactory.Instance, CancellationToken.None);
        var directory = Path.Combine(network.Directory.FullName, "attached");
        var keys = new FileKeyStore(Path.Combine(directory, "keys"));
        keys.SaveKey("tmk", network.Seed.Atm.MasterKey, overwrite: true);
        var tls = network.Pki.IssueTerminalTls(DemoSeed.AtmId, Path.Combine(directory, "tls"));
        using var process = Start(
            [
                "terminal", "--rig", "firmware-sim", "--panel",
                "--set", "Security:Profile=Aes",
                "--set", $"Terminal:AtmId={DemoSeed.AtmId}",
                "--set", "Terminal:Currency=EUR",
                "--set", "Terminal:Host:Address=127.0.0.1", "--set", $"Terminal:Host:Port={network.HostPort}",
                "--set", $"Terminal:Host:Tls:ServerPin={network.Pki.HostPin}", "--set", $"Terminal:Host:Tls:TargetHost={DemoAtmPki.HostName}",
                "--set", "Terminal:Proxy:Address=127.0.0.1", "--set", $"Terminal:Proxy:Port={network.Proxy.AtmEndPoint.Port}",
                "--set", $"Terminal:Proxy:Tls:ServerPin={tls.ServerPin}", "--set", $"Terminal:Proxy:Tls:TargetHost={tls.TargetHost}",
                "--set", $"Terminal:Proxy:Tls:ClientCertificatePath={tls.ClientCertificatePath}", "--set", $"Terminal:Proxy:Tls:ClientPrivateKeyPath={tls.ClientPrivateKeyPath}",
                "--set", $"Terminal:KeyStore={keys.Directory}",
                "--set", $"Terminal:DataDirectory={Path.Combine(directory, "data")}",
                "--set", "QrSession:Lifetime=00:02:00", "--set", "QrSession:ClockSkew=00:00:00",
            ],
            out var output);
        try
        {
            var address = await WaitForUrlAsync(process, output);
            Assert.Contains(output, l => l.Contains($"Front panel of {DemoSeed.AtmId} (attached to this terminal)", StringComparison.Ordinal));
            using var client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(30) };
            var state = await WaitForStateAsync(client, s => s.GetProperty("terminal").GetProperty("state").GetString() == "Idle", "the terminal signed on and idle", output);

            Assert.Equal("attached to this terminal", state.GetProperty("mode").GetString());
            Assert.Contains("FirmwareSim rig (LCDM-2000)", state.GetRawText(), StringComparison.Ordinal);
            var units = state.GetProperty("cashUnits").EnumerateArray().ToDictionary(u => u.GetProperty("id").GetString()!, u => u.GetProperty("count").GetInt32());
            Assert.Equal(new Dictionary<string, int> { ["UPPER"] = 500, ["LOWER"] = 500 }, units);
            Assert.Contains("XPT2046", state.GetProperty("unavailable").GetProperty("touch").GetString(), StringComparison.Ordinal);

            // Nothing has read the dispenser yet (the driver opens its port at its first status read): not a fault.
            var verdict = state.GetProperty("verdict");
            Assert.True(verdict.GetProperty("dispenserNotReadYet").GetBoolean());
            var codes = verdict.GetProperty("reasons").EnumerateArray().Select(r => r.GetProperty("code").GetString()).ToList();
            Assert.DoesNotContain("DispenserOffline", codes);
            Assert.Contains("DispenserNotReadYet", codes);

            // Keys on the emulated matrix reach the flow: Enter, then 20 EUR and Enter, and the QR is on the glass.
            await PostOkAsync(client, "/api/keys", """{"key":"enter"}""");
            await WaitForStateAsync(client, s => s.GetProperty("terminal").GetProperty("state").GetString() == "AmountEntry", "the amount entry", output);
            foreach (var key in new[] { "2", "0", "enter" })
            {
                await PostOkAsync(client, "/api/keys", $$"""{"key":"{{key}}"}""");
            }

            ScannedSession? scanned = null;
            await WaitForStateAsync(
                client,
                s =>
                {
                    if (s.GetProperty("terminal").GetProperty("state").GetString() != "QrShown")
                    {
                        return false;
                    }

                    var png = client.GetByteArrayAsync("/api/screen.png").GetAwaiter().GetResult();
                    try
                    {
                        scanned = ScannedSession.FromImage(png, "the served screen");
                        return true;
                    }
                    catch (Phone.PhoneInputException)
                    {
                        return false; // the driver is still writing the QR over SPI
                    }
                },
                "the QR on the served framebuffer",
                output);
            Assert.Equal(DemoSeed.AtmId, scanned!.AtmId.ToString());
            Assert.Equal(2000L, scanned.Payload.Amount.MinorUnits);
            var screenPng = await client.GetByteArrayAsync("/api/screen.png");
            Assert.Equal((240, 320), PngSize(screenPng));

            // The flow's first verdict was taken on the opened dispenser: journalled ready, and the page now shows it.
            var first = ElectronicJournal.ReadAll(Path.Combine(directory, "data", "journal.log")).OfType<FaultChecked>().First();
            Assert.True(first.Ready, "the flow's first fault check: " + string.Join(", ", first.Reasons));
            var afterCheck = await client.GetFromJsonAsync<JsonElement>("/api/state");
            Assert.False(afterCheck.GetProperty("verdict").GetProperty("dispenserNotReadYet").GetBoolean());
            Assert.True(afterCheck.GetProperty("verdict").GetProperty("ready").GetBoolean());

            // The safe-door switch opens the rig's reed switch; the GPIO sensor driver reads it into the fault check.
            await PostOkAsync(client, "/api/faults", """{"name":"safe-door","on":true}""");
            await WaitForStateAsync(
                client,
                s => s.GetProperty("verdict").GetProperty("reasons").EnumerateArray().Any(r => r.GetProperty("code").GetString() == "SafeDoorOpen"),
                "the GPIO driver to read the open door",
                output);

            // A firmware fault switch reaches the LCDM-2000 emulator, which reports it armed.
            await PostOkAsync(client, "/api/faults", """{"name":"jam","on":true}""");
            var jam = (await client.GetFromJsonAsync<JsonElement>("/api/state")).GetProperty("faults").EnumerateArray().Single(f => f.GetProperty("name").GetString() == "jam");
            Assert.True(jam.GetProperty("on").GetBoolean());
            Assert.Contains("LCDM-2000 firmware emulator", jam.GetProperty("wiredTo").GetString(), StringComparison.Ordinal);
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    /// <summary>
    /// Every device of a FirmwareSim terminal must be on the rig's emulators before the panel starts: a dispenser port that
    /// is not the rig's pty (a real LCDM on /dev/ttyUSB0) is refused unless Panel:AllowRealDevices, and a device of a kind
    /// the rig does not wire (its screen, keys or reed switches would not be the panel's) always is. Exit 2, one line naming
    /// the setting and why, before the terminal starts.
    /// </summary>
    [Theory]
    [InlineData("Devices:Dispenser:Lcdm2000:PortName=/dev/ttyUSB0 is not the rig's emulated Lcdm2000", "Panel:AllowRealDevices", "--set", "Devices:Dispenser:Lcdm2000:PortName=/dev/ttyUSB0")]
    [InlineData("Devices:Display:Kind=Console is not the rig's Ili934x", "ILI9341 emulator", "--set", "Devices:Display:Kind=Console")]
    [InlineData("Devices:Keypad:Kind=Xpt2046 is not the rig's Matrix", "key matrix", "--set", "Devices:Keypad:Kind=Xpt2046")]
    [InlineData("Devices:Sensors:Kind=Simulated is not the rig's Gpio", "reed switch", "--set", "Devices:Sensors:Kind=Simulated")]
    [InlineData("Devices:Dispenser:Kind=Simulated is not the rig's Lcdm2000", "pseudo-terminal", "--set", "Devices:Dispenser:Kind=Simulated")]
    [InlineData("Devices:Display:Kind=Console is not the rig's Ili934x", "emulators only", "--set", "Devices:Display:Kind=Console", "--set", "Panel:AllowRealDevices=true")]
    public async Task Terminal_on_the_firmware_sim_rig_with_panel_refuses_a_device_off_the_rig(string setting, string why, params string[] args)
    {
        var directory = TerminalDirectory();
        using var process = Start(["terminal", "--rig", "firmware-sim", "--panel", .. args, .. TerminalSettings(directory)], out var output);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        process.WaitForExit();

        Assert.Equal(2, process.ExitCode);
        var refusal = Assert.Single(output, l => l.Contains("panel refuses", StringComparison.Ordinal));
        Assert.Contains(setting, refusal, StringComparison.Ordinal);
        Assert.Contains(why, refusal, StringComparison.Ordinal);
        var text = string.Join('\n', output);
        Assert.DoesNotContain("Front panel of", text, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(directory, "data", "journal.log")), "the terminal started although the panel was refused");
    }

    /// <summary>
    /// The FirmwareSim attach takes the same binding rules and the same device check however the rig and the panel are
    /// selected: a non-loopback address without Panel:AllowRemote, or with it but no token, is refused; a dispenser port that
    /// names another device by a path through the pty directory is not the rig's pty; and Devices:Rig, Panel:Enabled and the
    /// port given as environment variables (not --rig, --panel, --set) are checked alike. The refusal never prints the token.
    /// </summary>
    [Theory]
    [InlineData("shared secret is required", null, "--rig", "firmware-sim", "--panel", "--set", "Panel:Address=0.0.0.0", "--set", "Panel:AllowRemote=true")]
    [InlineData("set Panel:AllowRemote=true", null, "--rig", "firmware-sim", "--panel", "--set", "Panel:Address=0.0.0.0", "--set", "Panel:Token=adv18b-secret-token-0123")]
    [InlineData("Devices:Dispenser:Lcdm2000:PortName=/dev/pts/../ttyUSB0 is not the rig's", null, "--rig", "firmware-sim", "--panel", "--set", "Devices:Dispenser:Lcdm2000:PortName=/dev/pts/../ttyUSB0", "--set", "Panel:Token=adv18b-secret-token-0123")]
    [InlineData("Devices:Dispenser:Lcdm2000:PortName=/dev/ttyUSB0 is not the rig's", "CARDLESSATM_Devices__Rig=FirmwareSim;CARDLESSATM_Panel__Enabled=true;CARDLESSATM_Devices__Dispenser__Lcdm2000__PortName=/dev/ttyUSB0;CARDLESSATM_Panel__Token=adv18b-secret-token-0123")]
    public async Task Terminal_on_the_firmware_sim_rig_with_panel_refuses_unsafe_bindings_and_ports_however_selected(string expected, string? environment, params string[] args)
    {
        var directory = TerminalDirectory();
        var variables = (environment ?? string.Empty).Split(';', StringSplitOptions.RemoveEmptyEntries).Select(v => v.Split('=', 2)).ToDictionary(v => v[0], v => v[1]);
        using var process = Start(["terminal", .. args, .. TerminalSettings(directory)], out var output, variables);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        process.WaitForExit();

        Assert.Equal(2, process.ExitCode);
        var refusal = Assert.Single(output, l => l.Contains("panel refuses", StringComparison.Ordinal));
        Assert.Contains(expected, refusal, StringComparison.Ordinal);
        var text = string.Join('\n', output);
        Assert.DoesNotContain("adv18b-secret-token-0123", text, StringComparison.Ordinal);
        Assert.DoesNotContain("Front panel of", text, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(directory, "data", "journal.log")), "the terminal started although the panel was refused");
    }

    /// <summary>
    /// The documented override: with Panel:AllowRealDevices=true the panel starts beside a dispenser that is not the rig's
    /// emulator, and marks the dispenser's switches unavailable (they would act on an emulator the terminal does not use),
    /// naming the setting; the screen, keys and door stay the rig's.
    /// </summary>
    [Fact]
    public async Task Terminal_on_the_firmware_sim_rig_with_panel_and_AllowRealDevices_unwires_the_dispenser_switches()
    {
        var directory = TerminalDirectory();
        using var process = Start(
            ["terminal", "--rig", "firmware-sim", "--panel", "--set", "Devices:Dispenser:Lcdm2000:PortName=/dev/ttyUSB0", "--set", "Panel:AllowRealDevices=true", .. TerminalSettings(directory)],
            out var output);
        try
        {
            var address = await WaitForUrlAsync(process, output);
            using var client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(30) };
            var faults = (await client.GetFromJsonAsync<JsonElement>("/api/state")).GetProperty("faults").EnumerateArray().ToDictionary(f => f.GetProperty("name").GetString()!);
            foreach (var name in new[] { "jam", "double-note-reject", "dispenser-silent", "cassette-removed" })
            {
                Assert.Contains("Devices:Dispenser:Lcdm2000:PortName=/dev/ttyUSB0", faults[name].GetProperty("unavailable").GetString(), StringComparison.Ordinal);
            }

            Assert.Equal(JsonValueKind.Null, faults["safe-door"].GetProperty("unavailable").ValueKind);
            using var jam = await client.PostAsync("/api/faults", new StringContent("""{"name":"jam","on":true}""", Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.BadRequest, jam.StatusCode);
            Assert.Contains("not the rig's emulator", await jam.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    private static async Task PostOkAsync(HttpClient client, string path, string json)
    {
        using var response = await client.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"POST {path} {json}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
    }

    private static async Task<JsonElement> WaitForStateAsync(HttpClient client, Func<JsonElement, bool> condition, string what, System.Collections.Concurrent.ConcurrentQueue<string> output)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (true)
        {
            var state = await client.GetFromJsonAsync<JsonElement>("/api/state");
            if (condition(state))
            {
                return state;
            }

            Assert.True(DateTime.UtcNow < deadline, $"never saw {what}; last state {state.GetProperty("terminal").GetRawText()}:\n" + string.Join('\n', output.TakeLast(40)));
            await Task.Delay(100);
        }
    }

    /// <summary>The width and height in a PNG's IHDR chunk.</summary>
    private static (int Width, int Height) PngSize(byte[] png) =>
        (System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16, 4)), System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20, 4)));
}
