using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using CardlessAtm.Cli.Demo;
using CardlessAtm.Cli.Rigs;
using CardlessAtm.Host.Seeding;
using CardlessAtm.Phone.Scanning;
using Microsoft.Extensions.Logging.Abstractions;

namespace CardlessAtm.Panel.Tests;

/// <summary>
/// The panel on the FirmwareSim rig: the demo network's terminal runs the Raspberry Pi drivers against the firmware
/// emulators, and the panel shows the ILI9341 emulator's framebuffer, taps the emulated key matrix and injects faults in
/// the reed switches and the LCDM-2000 firmware. Browser tests click one withdrawal each and keep a screenshot.
/// </summary>
public sealed class PanelFirmwareSimTests
{
    private static readonly DemoCustomer Ada = DemoSeed.Customers[0];

    [BrowserFact]
    public async Task Approved_withdrawal_on_the_firmware_rig_shows_the_framebuffer_and_debits_exactly_the_notes_the_firmware_let_out()
    {
        await using var panel = await StartAsync();
        var rig = Rig(panel);
        using var browser = Browser.Open(panel.Server.Url);
        browser.WaitForText("#mode", "FirmwareSim rig (LCDM-2000)");
        browser.WaitForText("#touch-unavailable", "XPT2046");
        EnterAmount(browser, panel, "80");

        // The screen the page shows is the emulated glass, pixel for pixel (the countdown redraws it: compare a pair
        // read back to back), and its QR is this session's.
        using var client = new HttpClient { BaseAddress = panel.Server.Url };
        await WaitForAsync(async () =>
        {
            var served = await client.GetByteArrayAsync("/api/screen.png");
            var glass = rig.Panel.Snapshot();
            return served.SequenceEqual(ScreenImage.EncodePng(glass.Pixels, glass.Width, glass.Height));
        }, "the served PNG to be the ILI9341 emulator's framebuffer");
        Assert.Equal(panel.Atm.Terminal.Flow.CurrentQrText, QrImageReader.Read(await client.GetByteArrayAsync("/api/screen.png"), "the panel's screen"));

        Scan(browser, 1, "80.00 EUR");
        browser.Screenshot("firmware-sim-qr-scanned");
        Withdraw(browser, 1, Ada.AccountId, Ada.Pin);
        browser.WaitForText("#pane-1 .status", "approved");
        browser.WaitFor(() => Settled(panel), "the terminal to settle (idle, no reversal waiting)");

        Assert.Equal(Money.Of(8000, "EUR"), panel.Atm.PresentedValue);
        Assert.Equal(Ada.OpeningBalanceMinor - 8000, await BalanceAsync(panel));
        AssertCashUnitsMatchTheFirmware(panel, rig);
        Assert.Equal(0, rig.Dispenser.NotesInPath);
        await AssertLedgerBalancesAsync(panel);
        browser.WaitForText("#account-1", Money.Of(Ada.OpeningBalanceMinor - 8000, "EUR").ToString());
        browser.WaitForText("#dispenser", $"presented in all {rig.Dispenser.PresentedCount}");
        browser.WaitForText("#journal", "dispense-end");
        browser.Screenshot("firmware-sim-approved");
    }

    [BrowserFact]
    public async Task Jam_mid_dispense_on_the_firmware_rig_pays_the_note_that_came_out_and_reverses_the_rest()
    {
        await using var panel = await StartAsync();
        var rig = Rig(panel);
        using var browser = Browser.Open(panel.Server.Url);
        browser.Click("#fault-jam");
        browser.WaitFor(() => rig.Dispenser.JamPending, "the jam switch to reach the LCDM-2000 firmware");
        EnterAmount(browser, panel, "80");

        Scan(browser, 1, "80.00 EUR");
        Withdraw(browser, 1, Ada.AccountId, Ada.Pin);
        browser.WaitForText("#pane-1 .status", "partial");
        browser.WaitFor(() => Settled(panel), "the reversal to settle");

        var presented = panel.Atm.PresentedValue;
        Assert.True(presented.MinorUnits is > 0 and < 8000, $"one note out before the jam, not {presented}");
        Assert.Equal(1, rig.Dispenser.PresentedCount);
        Assert.False(rig.Dispenser.JamPending);
        Assert.Equal(Ada.OpeningBalanceMinor - presented.MinorUnits, await BalanceAsync(panel));
        await AssertLedgerBalancesAsync(panel);
        browser.WaitForText("#account-1", Money.Of(Ada.OpeningBalanceMinor - presented.MinorUnits, "EUR").ToString());
        browser.WaitFor(() => !browser.Find("#fault-jam").Selected, "the jam switch to read off once the firmware has jammed");

        // The fault check's verdict on the page is the terminal's own, live.
        var verdict = panel.Atm.Terminal.Devices.FaultCheck.Check(Money.Of(1000, "EUR"));
        browser.WaitForText("#verdict", verdict.IsReady ? "Ready" : "Not ready");
        foreach (var reason in verdict.Reasons)
        {
            browser.WaitForText("#verdict-reasons", reason.Code.ToString());
        }

        browser.Screenshot("firmware-sim-jam-mid-dispense");
    }

    [Fact]
    public async Task Switches_on_the_firmware_rig_reach_the_reed_switch_and_the_lcdm_firmware_and_unwired_ones_say_why()
    {
        await using var panel = await StartAsync();
        var rig = Rig(panel);
        using var client = new HttpClient { BaseAddress = panel.Server.Url };

        await PostOkAsync(client, """{"name":"safe-door","on":true}""");
        Assert.False(rig.IsSwitchClosed("SafeDoor"));
        var state = default(JsonElement);
        await WaitForAsync(
            async () =>
            {
                state = await client.GetFromJsonAsync<JsonElement>("/api/state");
                return state.GetProperty("verdict").GetProperty("reasons").EnumerateArray().Any(r => r.GetProperty("code").GetString() == "SafeDoorOpen");
            },
            "the GPIO sensor driver to read the open door, and the verdict to say so");
        Assert.False(state.GetProperty("verdict").GetProperty("ready").GetBoolean());
        await PostOkAsync(client, """{"name":"safe-door","on":false}""");
        Assert.True(rig.IsSwitchClosed("SafeDoor"));

        await PostOkAsync(client, """{"name":"double-note-reject","on":true}""");
        Assert.True(rig.Dispenser.DoubleNotePending);
        await PostOkAsync(client, """{"name":"jam","on":true}""");
        Assert.True(rig.Dispenser.JamPending);
        await PostOkAsync(client, """{"name":"jam","on":false}""");
        Assert.False(rig.Dispenser.JamPending);
        Assert.True(rig.Dispenser.DoubleNotePending); // one switch off leaves the other's fault armed
        await PostOkAsync(client, """{"name":"double-note-reject","on":false}""");
        Assert.False(rig.Dispenser.DoubleNotePending);
        await PostOkAsync(client, """{"name":"dispenser-silent","on":true}""");
        Assert.True(rig.Dispenser.IsMuted);
        await PostOkAsync(client, """{"name":"dispenser-silent","on":false}""");
        Assert.False(rig.Dispenser.IsMuted);

        state = await client.GetFromJsonAsync<JsonElement>("/api/state");
        var faults = state.GetProperty("faults").EnumerateArray().ToDictionary(f => f.GetProperty("name").GetString()!);
        Assert.Contains("SafeDoor reed switch", faults["safe-door"].GetProperty("wiredTo").GetString(), StringComparison.Ordinal);
        Assert.Contains("LCDM-2000 firmware emulator", faults["jam"].GetProperty("wiredTo").GetString(), StringComparison.Ordinal);
        Assert.False(faults["notes-not-taken"].GetProperty("available").GetBoolean());
        Assert.Contains("no presenter", faults["notes-not-taken"].GetProperty("unavailable").GetString(), StringComparison.Ordinal);
        Assert.Equal(JsonValueKind.Null, faults["double-note-reject"].GetProperty("positions").ValueKind); // the firmware's double note is per pick, not per cassette
        Assert.Contains("XPT2046", state.GetProperty("unavailable").GetProperty("touch").GetString(), StringComparison.Ordinal);

        using var notTaken = await client.PostAsync("/api/faults", Json("""{"name":"notes-not-taken","on":true}"""));
        Assert.Equal(HttpStatusCode.BadRequest, notTaken.StatusCode);
        Assert.Contains("no presenter", await notTaken.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        using var take = await client.PostAsync("/api/take-notes", Json("{}"));
        Assert.Equal(HttpStatusCode.Conflict, take.StatusCode);
    }

    private static Task<DemoPanel> StartAsync() =>
        DemoPanel.StartAsync(new PanelOptions(), NullLoggerFactory.Instance, CancellationToken.None, DemoRigKind.FirmwareSim);

    private static FirmwareSimRig Rig(DemoPanel panel) => ((FirmwareSimDemoHardware)panel.Atm.Hardware).Rig;

    /// <summary>
    /// Enter, the digits on the computer keyboard, Enter: each goes to the key matrix in turn (the page sends one key at a
    /// time, and each POST returns once the driver's scanner has seen it), then the QR is on the glass.
    /// </summary>
    private static void EnterAmount(Browser browser, DemoPanel panel, string digits)
    {
        browser.WaitForText("#terminal-state", "Idle");
        browser.Click("#key-enter");
        browser.WaitFor(() => panel.Atm.Terminal.Flow.State != Terminal.Flow.TerminalState.Idle, "the amount screen");
        browser.Find("body").SendKeys(digits);
        browser.Click("#key-enter");
        browser.WaitForText("#terminal-state", "QrShown");
    }

    /// <summary>Scans until the phone reads the QR: the glass is photographed as it is, and a redraw in progress reads as no QR.</summary>
    private static void Scan(Browser browser, int pane, string amount)
    {
        browser.WaitFor(
            () =>
            {
                if (browser.Text($"#pane-{pane} .amount").Contains(amount, StringComparison.Ordinal))
                {
                    return true;
                }

                browser.Click($"#pane-{pane} .scan");
                return browser.Text($"#pane-{pane} .amount").Contains(amount, StringComparison.Ordinal);
            },
            $"pane {pane} to read the QR of {amount}");
        browser.WaitForText($"#pane-{pane} .atm", DemoSeed.AtmId);
    }

    private static void Withdraw(Browser browser, int pane, string account, string pin)
    {
        browser.Type($"#pane-{pane} .account", account);
        browser.Type($"#pane-{pane} .pin", pin);
        browser.Click($"#pane-{pane} .withdraw");
    }

    private static bool Settled(DemoPanel panel) =>
        panel.Atm.Terminal.Reversals.Store.Depth == 0
        && panel.Atm.Terminal.Flow.State is Terminal.Flow.TerminalState.Idle or Terminal.Flow.TerminalState.OutOfService;

    /// <summary>The terminal's cash units count what the firmware counts, cassette by cassette.</summary>
    private static void AssertCashUnitsMatchTheFirmware(DemoPanel panel, FirmwareSimRig rig)
    {
        foreach (var unit in panel.Atm.Terminal.Devices.Dispenser.CashUnits)
        {
            Assert.Equal(rig.Dispenser.CassetteCount(unit.Position), unit.Count);
        }
    }

    private static async Task<long> BalanceAsync(DemoPanel panel) =>
        (await panel.Network.Host.Administration.GetAccountAsync(Ada.AccountId))!.BalanceMinor;

    private static async Task AssertLedgerBalancesAsync(DemoPanel panel)
    {
        var totals = await panel.Network.Host.Administration.GetLedgerTotalsAsync();
        Assert.True(totals.Balances, $"ledger does not balance: {totals}");
        Assert.Equal(panel.Atm.PresentedValue.MinorUnits, totals.ApprovedWithdrawalsMinor - totals.ReversalsMinor);
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    private static async Task PostOkAsync(HttpClient client, string body)
    {
        using var response = await client.PostAsync("/api/faults", Json(body));
        Assert.True(response.IsSuccessStatusCode, $"{body}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
    }

    private static async Task WaitForAsync(Func<Task<bool>> condition, string what)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (!await condition())
        {
            Assert.False(deadline.IsCancellationRequested, $"timed out waiting for {what}");
            await Task.Delay(50, CancellationToken.None);
        }
    }
}
