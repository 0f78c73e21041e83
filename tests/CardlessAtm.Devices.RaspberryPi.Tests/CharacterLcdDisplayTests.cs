using CardlessAtm.Devices.Display;
using CardlessAtm.Devices.RaspberryPi.Display;
using CardlessAtm.FirmwareSim.Gpio;
using CardlessAtm.Qr.Symbols;

namespace CardlessAtm.Devices.RaspberryPi.Tests;

/// <summary>The real Lcd2004 binding in 4-bit mode through the emulated PCF8574 backpack.</summary>
public class CharacterLcdDisplayTests
{
    [Fact]
    public async Task Text_arrives_on_the_glass_through_the_PCF8574_backpack()
    {
        var lcd = new Hd44780Pcf8574Emulator();
        using var display = new CharacterLcdDisplay(lcd, new CharacterLcdOptions());
        await display.ShowAsync(new Screen("Cardless withdrawal", ["Enter amount:", "EUR 120.00"], SecondsLeft: 45), default);

        Assert.True(lcd.FourBitMode);
        Assert.True(lcd.DisplayOn);
        Assert.True(lcd.BacklightOn);
        Assert.Equal(
            ["Cardless withdrawal ", "Enter amount:       ", "EUR 120.00          ", "                 45s"],
            lcd.Lines());
        Assert.Empty(lcd.ProtocolErrors);
    }

    [Fact]
    public async Task Only_the_changed_characters_are_rewritten()
    {
        var lcd = new Hd44780Pcf8574Emulator();
        using var display = new CharacterLcdDisplay(lcd, new CharacterLcdOptions());
        await display.ShowAsync(new Screen("Please wait", ["Contacting bank"], SecondsLeft: 45), default);
        var before = lcd.BytesWritten;
        await display.ShowAsync(new Screen("Please wait", ["Contacting bank"], SecondsLeft: 44), default);

        Assert.Equal(1, display.LastUpdateCharacters);
        Assert.Equal("                 44s", lcd.Line(3));

        // A cursor move (1 command) and one character (1 data byte), each 2 nibbles of 2 I2C bytes.
        Assert.Equal(8, lcd.BytesWritten - before);
    }

    [Fact]
    public async Task Long_lines_are_cut_and_characters_outside_the_ROM_show_as_question_marks()
    {
        var lcd = new Hd44780Pcf8574Emulator();
        using var display = new CharacterLcdDisplay(lcd, new CharacterLcdOptions());
        await display.ShowAsync(Screen.Text("Withdrawal of €120.00 approved", "ok"), default);
        Assert.Equal("Withdrawal of ?120.0", lcd.Line(0));
    }

    [Fact]
    public async Task A_screen_with_a_QR_is_refused_with_the_reason()
    {
        var lcd = new Hd44780Pcf8574Emulator();
        using var display = new CharacterLcdDisplay(lcd, new CharacterLcdOptions());
        var qr = QrSymbolEncoder.Encode("CQ1.TEST", QrErrorCorrection.M, 4).Modules;
        var error = await Assert.ThrowsAsync<QrNotSupportedException>(() => display.ShowAsync(new Screen("Scan", [], qr), default));
        Assert.Contains("graphic display", error.Message);
        Assert.False(display.Capabilities.CanShowQr);
    }

    [Fact]
    public void A_character_LCD_as_the_only_display_is_refused_at_start_up()
    {
        var options = new RaspberryPiDisplayOptions { CharacterLcd = new CharacterLcdOptions() };
        var error = Assert.Throws<ConfigurationException>(() => new RaspberryPiDisplayOptionsValidator("Devices:Display").ThrowIfInvalid(options));
        Assert.Equal("Devices:Display:Ili934x", error.Setting);
        Assert.Contains("a graphic display is needed for the QR", error.Message);
    }

    [Fact]
    public void A_character_LCD_beside_a_TFT_is_accepted()
    {
        var options = new RaspberryPiDisplayOptions { Ili934x = new Ili934xDisplayOptions(), CharacterLcd = new CharacterLcdOptions() };
        Assert.True(new RaspberryPiDisplayOptionsValidator("Devices:Display").Validate(null, options).Succeeded);
    }

    [Fact]
    public void An_unsupported_module_size_names_the_setting()
    {
        var validator = new CharacterLcdOptionsValidator("Devices:Display:CharacterLcd");
        var error = Assert.Throws<ConfigurationException>(() => validator.ThrowIfInvalid(new CharacterLcdOptions { Columns = 40, Rows = 2 }));
        Assert.Equal("Devices:Display:CharacterLcd:Columns", error.Setting);
        error = Assert.Throws<ConfigurationException>(() => validator.ThrowIfInvalid(new CharacterLcdOptions { I2cAddress = 0x80 }));
        Assert.Equal("Devices:Display:CharacterLcd:I2cAddress", error.Setting);
        var result = validator.Validate(null, new CharacterLcdOptions { I2cBusId = 30 });
        Assert.True(result.Failed);
        Assert.StartsWith("Devices:Display:CharacterLcd:I2cBusId: 30 is not an I2C bus number", Assert.Single(result.Failures!), StringComparison.Ordinal);
        Assert.True(validator.Validate(null, new CharacterLcdOptions()).Succeeded);
    }

    [Fact]
    public void A_driver_built_without_DI_refuses_bad_options_under_the_options_type_name()
    {
        var error = Assert.Throws<ConfigurationException>(() => new CharacterLcdDisplay(new Hd44780Pcf8574Emulator(), new CharacterLcdOptions { Columns = 40, Rows = 2 }));
        Assert.Equal("CharacterLcdOptions:Columns", error.Setting);
    }
}
