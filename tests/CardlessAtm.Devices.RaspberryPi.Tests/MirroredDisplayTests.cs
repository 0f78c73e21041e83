using CardlessAtm.Devices.Display;
using CardlessAtm.Devices.RaspberryPi.Display;
using CardlessAtm.FirmwareSim.Gpio;
using CardlessAtm.Qr.Symbols;

namespace CardlessAtm.Devices.RaspberryPi.Tests;

public class MirroredDisplayTests
{
    [Fact]
    public async Task The_QR_goes_to_the_TFT_and_the_text_to_the_character_LCD_beside_it()
    {
        using var rig = new Rig();
        var (tft, panel) = Ili934xDisplayTests.Open(rig, new Ili934xDisplayOptions());
        var lcd = new Hd44780Pcf8574Emulator();
        using var display = new MirroredDisplay(tft, new CharacterLcdDisplay(lcd, new CharacterLcdOptions()));
        const string payload = "CQ1.ATM00001.MIRRORED.TEST";
        var qr = QrSymbolEncoder.Encode(payload, QrErrorCorrection.M, 4).Modules;

        await display.ShowAsync(new Screen("Scan to withdraw", ["EUR 50.00"], qr, SecondsLeft: 60), default);

        Assert.Equal(payload, GlassDecoder.DecodeQr(panel));
        Assert.Equal("Scan to withdraw    ", lcd.Line(0));
        Assert.Equal("EUR 50.00           ", lcd.Line(1));
        Assert.Equal("                 60s", lcd.Line(3));
        Assert.True(display.Capabilities.CanShowQr);
    }

    [Fact]
    public void A_character_LCD_cannot_be_the_customer_side()
    {
        var lcd = new CharacterLcdDisplay(new Hd44780Pcf8574Emulator(), new CharacterLcdOptions());
        var other = new CharacterLcdDisplay(new Hd44780Pcf8574Emulator(), new CharacterLcdOptions());
        var error = Assert.Throws<ArgumentException>(() => new MirroredDisplay(lcd, other));
        Assert.Contains("a graphic display is needed for the QR", error.Message);
        lcd.Dispose();
        other.Dispose();
    }
}
