using CardlessAtm.Cli.Demo;
using CardlessAtm.Devices.Keypad;
using CardlessAtm.Phone.Scanning;
using CardlessAtm.Terminal.Flow;
using Microsoft.Extensions.Logging.Abstractions;

namespace CardlessAtm.Panel.Tests;

/// <summary>The screen image the panel serves is the one the phone pane photographs: its QR reads back as the session on screen.</summary>
public sealed class ScreenImageTests
{
    [Fact]
    public async Task The_served_screen_png_is_the_display_resolution_and_its_qr_decodes_to_the_session_on_screen()
    {
        await using var panel = await DemoPanel.StartAsync(new PanelOptions(), NullLoggerFactory.Instance, CancellationToken.None);
        using var client = new HttpClient { BaseAddress = panel.Server.Url };
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await panel.Atm.Terminal.Flow.WaitForStateAsync(s => s == TerminalState.Idle, timeout.Token);
        var qrShown = panel.Atm.Terminal.Flow.WaitForStateAsync(s => s == TerminalState.QrShown, timeout.Token);
        ((SimulatedPanelRig)panel.PanelAtm.Rig).Keypad.Press(AtmKey.Enter);
        ((SimulatedPanelRig)panel.PanelAtm.Rig).Keypad.Type("50");
        ((SimulatedPanelRig)panel.PanelAtm.Rig).Keypad.Press(AtmKey.Enter);
        await qrShown;

        string? decoded = null;
        while (decoded != panel.Atm.Terminal.Flow.CurrentQrText)
        {
            timeout.Token.ThrowIfCancellationRequested();
            var png = await client.GetByteArrayAsync("/api/screen.png", timeout.Token);
            try
            {
                decoded = QrImageReader.Read(png, "the panel's screen");
            }
            catch (Phone.PhoneInputException)
            {
                // the screen with the QR is being shown; look again
            }
        }

        using var bitmap = SkiaSharp.SKBitmap.Decode(await client.GetByteArrayAsync("/api/screen.png"));
        Assert.Equal((240, 320), (bitmap.Width, bitmap.Height));
        Assert.Equal(panel.Atm.Terminal.Flow.CurrentQrText, decoded);
    }

    [Fact]
    public async Task A_dark_display_is_black_and_a_text_screen_has_its_title_bar()
    {
        using var image = new ScreenImage(240, 320);

        Assert.All(await image.RenderRgb565Async(null), p => Assert.Equal(0, p));
        var frame = await image.RenderRgb565Async(Devices.Display.Screen.Text("Hello", "World"));
        Assert.NotEqual(frame[(5 * 240) + 2], frame[(100 * 240) + 2]); // title background vs body background
        Assert.Equal(0xFFFF, frame[(300 * 240) + 2]); // no countdown bar: body white to the bottom
    }

    [Fact]
    public async Task A_landscape_display_is_drawn_by_the_ILI9342_driver_and_a_resolution_no_ILI934x_has_is_refused()
    {
        using var image = new ScreenImage(320, 240);

        var frame = await image.RenderRgb565Async(Devices.Display.Screen.Text("Hello", "World"));
        Assert.Equal(320 * 240, frame.Length);
        Assert.Equal(0x0193, frame[(5 * 320) + 2]); // the driver's neutral title bar (0x003399) through the ILI9342's inverted glass
        Assert.Equal(0xFFFF, frame[(200 * 320) + 2]);
        Assert.Throws<ArgumentOutOfRangeException>(() => new ScreenImage(300, 200).Dispose());
    }
}
