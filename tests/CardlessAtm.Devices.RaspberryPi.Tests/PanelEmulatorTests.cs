using System.Device.Gpio;
using CardlessAtm.FirmwareSim.Gpio;

namespace CardlessAtm.Devices.RaspberryPi.Tests;

public class PanelEmulatorTests
{
    private const int Dc = 25;

    [Fact]
    public void A_window_write_lands_where_CASET_and_PASET_put_it_and_shows_after_SLPOUT_and_DISPON()
    {
        using var rig = new Rig();
        using var panel = new Ili934xPanelEmulator(rig.Board, Dc);
        rig.Gpio.OpenPin(Dc, PinMode.Output);
        Command(rig, panel, 0x11);
        Command(rig, panel, 0x29);
        Command(rig, panel, 0x36, 0x48); // MX | BGR: upright on the mirrored glass
        Command(rig, panel, 0x3A, 0x55);
        Command(rig, panel, 0x2A, 0x00, 10, 0x00, 11);
        Command(rig, panel, 0x2B, 0x00, 20, 0x00, 20);
        Command(rig, panel, 0x2C, 0xF8, 0x00, 0x07, 0xE0); // red, green

        var (width, _, pixels) = panel.Snapshot();
        Assert.Equal(0xF800, pixels[(20 * width) + 10]);
        Assert.Equal(0x07E0, pixels[(20 * width) + 11]);
        Assert.Equal(0, pixels[(21 * width) + 10]);
        Assert.Empty(panel.ProtocolErrors);
    }

    [Fact]
    public void The_glass_is_dark_until_the_panel_leaves_sleep()
    {
        using var rig = new Rig();
        using var panel = new Ili934xPanelEmulator(rig.Board, Dc);
        rig.Gpio.OpenPin(Dc, PinMode.Output);
        Command(rig, panel, 0x3A, 0x55);
        Command(rig, panel, 0x2C, 0xFF, 0xFF);
        Assert.False(panel.IsShowing);
        Assert.All(panel.Snapshot().Pixels, p => Assert.Equal(0, p));
        Command(rig, panel, 0x11);
        Command(rig, panel, 0x29);
        Assert.True(panel.IsShowing);
    }

    [Fact]
    public void Eighteen_bit_pixels_after_reset_are_decoded_to_RGB565()
    {
        using var rig = new Rig();
        using var panel = new Ili934xPanelEmulator(rig.Board, Dc);
        rig.Gpio.OpenPin(Dc, PinMode.Output);
        Command(rig, panel, 0x11);
        Command(rig, panel, 0x29);
        Command(rig, panel, 0x36, 0x48);
        Command(rig, panel, 0x2C, 0xFC, 0x00, 0xFC); // 18 bpp (reset default): magenta
        Assert.Equal(0xF81F, panel.Snapshot().Pixels[0]);
    }

    [Fact]
    public void The_address_counter_wraps_inside_the_window()
    {
        using var rig = new Rig();
        using var panel = new Ili934xPanelEmulator(rig.Board, Dc);
        rig.Gpio.OpenPin(Dc, PinMode.Output);
        Command(rig, panel, 0x11);
        Command(rig, panel, 0x29);
        Command(rig, panel, 0x36, 0x48);
        Command(rig, panel, 0x3A, 0x55);
        Command(rig, panel, 0x2A, 0, 0, 0, 1);
        Command(rig, panel, 0x2B, 0, 0, 0, 0);
        Command(rig, panel, 0x2C, 0x00, 0x01, 0x00, 0x02, 0x00, 0x03);
        var pixels = panel.Snapshot().Pixels;
        Assert.Equal(3, pixels[0]);
        Assert.Equal(2, pixels[1]);
        Assert.Equal(3, panel.PixelsWritten);
    }

    [Fact]
    public void A_column_range_that_ends_before_it_starts_is_reported_and_ignored()
    {
        using var rig = new Rig();
        using var panel = new Ili934xPanelEmulator(rig.Board, Dc);
        rig.Gpio.OpenPin(Dc, PinMode.Output);
        Command(rig, panel, 0x2A, 0, 50, 0, 10);
        Assert.Contains(panel.ProtocolErrors, e => e.Contains("CASET 50..10", StringComparison.Ordinal));
    }

    [Fact]
    public void A_hardware_reset_puts_the_panel_back_to_sleep()
    {
        using var rig = new Rig();
        using var panel = new Ili934xPanelEmulator(rig.Board, Dc, resetPin: 24);
        rig.Gpio.OpenPin(Dc, PinMode.Output);
        rig.Gpio.OpenPin(24, PinMode.Output);
        Command(rig, panel, 0x11);
        Command(rig, panel, 0x29);
        Assert.True(panel.IsShowing);
        rig.Gpio.Write(24, PinValue.Low);
        Assert.False(panel.IsShowing);
    }

    private static void Command(Rig rig, Ili934xPanelEmulator panel, byte command, params byte[] data)
    {
        rig.Gpio.Write(Dc, PinValue.Low);
        panel.WriteByte(command);
        if (data.Length > 0)
        {
            rig.Gpio.Write(Dc, PinValue.High);
            panel.Write(data);
        }
    }
}
