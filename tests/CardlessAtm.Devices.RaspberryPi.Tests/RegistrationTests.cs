using System.Device.Gpio;
using CardlessAtm.Devices.Configuration;
using CardlessAtm.Devices.Display;
using CardlessAtm.Devices.Keypad;
using CardlessAtm.Devices.RaspberryPi.Buses;
using CardlessAtm.Devices.RaspberryPi.Display;
using CardlessAtm.Devices.RaspberryPi.Keypad;
using CardlessAtm.Devices.RaspberryPi.Sensors;
using CardlessAtm.Devices.Sensors;
using CardlessAtm.Devices.Status;
using CardlessAtm.FirmwareSim.Gpio;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CardlessAtm.Devices.RaspberryPi.Tests;

/// <summary>The Pi kinds resolved from configuration, with the virtual board as the GPIO controller.</summary>
public class RegistrationTests
{
    [Fact]
    public void A_character_LCD_as_the_customer_display_is_refused_at_start_up()
    {
        using var rig = new Rig();
        using var services = Build(rig, new()
        {
            ["Devices:Display:Kind"] = "CharacterLcd",
            ["Devices:Display:CharacterLcd:I2cAddress"] = "39",
        });
        var error = Assert.Throws<ConfigurationException>(() => services.GetRequiredService<IDisplay>());
        Assert.Equal("Devices:Display:Ili934x", error.Setting);
        Assert.Contains("a graphic display is needed for the QR", error.Message);
    }

    [Fact]
    public void A_bad_mirror_LCD_setting_stops_start_up_naming_it()
    {
        using var rig = new Rig();
        using var services = Build(rig, new()
        {
            ["Devices:Display:Kind"] = "Ili934x",
            ["Devices:Display:Ili934x:SpiBusId"] = "0",
            ["Devices:Display:CharacterLcd:Columns"] = "40",
        });
        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IStartupValidator>().Validate());
        Assert.Equal(typeof(CharacterLcdOptions), error.OptionsType);
        Assert.Contains(error.Failures, f => f.StartsWith("Devices:Display:CharacterLcd:Columns: 40x4 is not a supported module", StringComparison.Ordinal));
    }

    [Fact]
    public void A_bad_matrix_key_map_stops_start_up_naming_it_before_the_keypad_is_opened()
    {
        using var rig = new Rig();
        using var services = Build(rig, new()
        {
            ["Devices:Keypad:Kind"] = "Matrix",
            ["Devices:Keypad:Matrix:KeyMap:0"] = "1 2 3 F1",
            ["Devices:Keypad:Matrix:KeyMap:1"] = "4 5 6 F2",
            ["Devices:Keypad:Matrix:KeyMap:2"] = "7 8 9 F3",
            ["Devices:Keypad:Matrix:KeyMap:3"] = "Cancel 0 Clear Entr",
        });
        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IStartupValidator>().Validate());
        Assert.Equal(typeof(MatrixKeypadOptions), error.OptionsType);
        Assert.Contains(error.Failures, f => f.StartsWith("Devices:Keypad:Matrix:KeyMap:3: column 4: 'Entr' is not a key", StringComparison.Ordinal));
        Assert.Null(rig.Board.ModeOf(5));
    }

    [Fact]
    public void A_bad_TFT_setting_stops_start_up_naming_it()
    {
        using var rig = new Rig();
        using var services = Build(rig, new()
        {
            ["Devices:Display:Kind"] = "Ili934x",
            ["Devices:Display:Ili934x:DataCommandPin"] = "40",
        });
        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IStartupValidator>().Validate());
        Assert.Equal(typeof(Ili934xDisplayOptions), error.OptionsType);
        Assert.Contains(error.Failures, f => f.StartsWith("Devices:Display:Ili934x:DataCommandPin: 40 is not a GPIO line", StringComparison.Ordinal));
    }

    [Fact]
    public void A_TFT_display_kind_without_its_settings_stops_start_up_naming_them()
    {
        using var rig = new Rig();
        using var services = Build(rig, new()
        {
            ["Devices:Display:Kind"] = "Ili934x",
            ["Devices:Display:CharacterLcd:I2cBusId"] = "1",
        });
        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IStartupValidator>().Validate());
        Assert.Contains(error.Failures, f => f.StartsWith("Devices:Display:Ili934x: the only display configured is a character LCD", StringComparison.Ordinal));
    }

    [Fact]
    public void A_bad_XPT2046_setting_stops_start_up_naming_it()
    {
        using var rig = new Rig();
        using var services = Build(rig, new()
        {
            ["Devices:Keypad:Kind"] = "Xpt2046",
            ["Devices:Keypad:Xpt2046:SpiClockHz"] = "5000000",
        });
        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IStartupValidator>().Validate());
        Assert.Equal(typeof(Touch.Xpt2046Options), error.OptionsType);
        Assert.Contains(error.Failures, f => f.StartsWith("Devices:Keypad:Xpt2046:SpiClockHz: 5000000 Hz is outside 10 kHz–2.5 MHz", StringComparison.Ordinal));
    }

    [Fact]
    public void A_bad_touch_keypad_setting_stops_start_up_naming_it()
    {
        using var rig = new Rig();
        using var services = Build(rig, new()
        {
            ["Devices:Keypad:Kind"] = "Touch",
            ["Devices:Keypad:Touch:I2cAddress"] = "200",
        });
        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IStartupValidator>().Validate());
        Assert.Equal(typeof(TouchKeypadOptions), error.OptionsType);
        Assert.Contains(error.Failures, f => f.StartsWith("Devices:Keypad:Touch:I2cAddress: 0xC8 is not a 7-bit device address", StringComparison.Ordinal));
    }

    [Fact]
    public void Options_of_a_kind_that_is_not_selected_do_not_stop_start_up()
    {
        using var rig = new Rig();
        using var services = Build(rig, new()
        {
            ["Devices:Display:Kind"] = "Simulated",
            ["Devices:Display:CharacterLcd:Columns"] = "40",
            ["Devices:Display:Ili934x:DataCommandPin"] = "40",
            ["Devices:Keypad:Xpt2046:SpiClockHz"] = "5000000",
            ["Devices:Sensors:Gpio:DebounceMilliseconds"] = "0",
        });
        services.GetService<IStartupValidator>()?.Validate();
    }

    [Fact]
    public void Configured_keypad_pins_and_key_map_replace_the_defaults()
    {
        using var rig = new Rig();
        rig.Board.AddKeyMatrix("Keypad", [2, 3, 4], [7, 8, 9]);
        using var services = Build(rig, new()
        {
            ["Devices:Keypad:Kind"] = "Matrix",
            ["Devices:Keypad:Matrix:RowPins:0"] = "2",
            ["Devices:Keypad:Matrix:RowPins:1"] = "3",
            ["Devices:Keypad:Matrix:RowPins:2"] = "4",
            ["Devices:Keypad:Matrix:ColumnPins:0"] = "7",
            ["Devices:Keypad:Matrix:ColumnPins:1"] = "8",
            ["Devices:Keypad:Matrix:ColumnPins:2"] = "9",
            ["Devices:Keypad:Matrix:KeyMap:0"] = "1 2 3",
            ["Devices:Keypad:Matrix:KeyMap:1"] = "4 5 6",
            ["Devices:Keypad:Matrix:KeyMap:2"] = "Cancel 0 Enter",
        });
        var keypad = Assert.IsType<MatrixKeypad>(services.GetRequiredService<IKeypad>());
        Assert.Equal(PinMode.Output, rig.Board.ModeOf(2));
        Assert.Equal(PinMode.InputPullDown, rig.Board.ModeOf(9));
        Assert.Null(rig.Board.ModeOf(5));
        keypad.Dispose();
    }

    [Fact]
    public void GPIO_sensors_come_from_configuration_with_the_setting_named_on_error()
    {
        using var rig = new Rig();
        rig.Board.AddSwitch("SafeDoor", 17, PinValue.Low, closed: true);
        using var services = Build(rig, new()
        {
            ["Devices:Sensors:Kind"] = "Gpio",
            ["Devices:Sensors:Gpio:Sensors:0:Id"] = "SafeDoor",
            ["Devices:Sensors:Gpio:Sensors:0:Kind"] = "SafeDoor",
            ["Devices:Sensors:Gpio:Sensors:0:Pin"] = "17",
            ["Devices:Sensors:Gpio:Sensors:0:Pull"] = "Up",
            ["Devices:Sensors:Gpio:Sensors:0:AlertLevel"] = "High",
            ["Devices:Sensors:Gpio:Sensors:1:Id"] = "Cassette1",
            ["Devices:Sensors:Gpio:Sensors:1:Kind"] = "CassettePresent",
        });
        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IFaultSensors>());
        Assert.Equal(typeof(GpioFaultSensorsOptions), error.OptionsType);
        Assert.Contains(error.Failures, f => f.StartsWith("Devices:Sensors:Gpio:Sensors:1:Position: a CassettePresent sensor needs the cassette position 1–8", StringComparison.Ordinal));
        var atStart = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IStartupValidator>().Validate());
        Assert.Contains(atStart.Failures, f => f.StartsWith("Devices:Sensors:Gpio:Sensors:1:Position:", StringComparison.Ordinal));
    }

    [Fact]
    public void GPIO_sensors_resolve_and_read_the_board()
    {
        using var rig = new Rig();
        rig.Board.AddSwitch("SafeDoor", 17, PinValue.Low, closed: false);
        using var services = Build(rig, new()
        {
            ["Devices:Sensors:Kind"] = "Gpio",
            ["Devices:Sensors:Gpio:Sensors:0:Id"] = "SafeDoor",
            ["Devices:Sensors:Gpio:Sensors:0:Kind"] = "SafeDoor",
            ["Devices:Sensors:Gpio:Sensors:0:Pin"] = "17",
        });
        var sensors = Assert.IsType<GpioFaultSensors>(services.GetRequiredService<IFaultSensors>());
        Assert.Equal(SensorState.Alert, sensors.Status.StateOf(SensorKind.SafeDoor));
    }

    [Fact]
    public void The_mirror_LCD_at_its_address_on_the_emulated_bus_mirrors_the_TFT()
    {
        using var rig = new Rig();
        var buses = new EmulatedBuses();
        buses.AttachSpi(new Ili934xPanelEmulator(rig.Board, dataCommandPin: 25, resetPin: 24), maxClockHz: 40_000_000);
        var lcd = new Hd44780Pcf8574Emulator(address: 0x27, busId: 1);
        buses.AttachI2c(lcd);
        using var services = Build(rig, new()
        {
            ["Devices:Display:Kind"] = "Ili934x",
            ["Devices:Display:Ili934x:SpiBusId"] = "0",
            ["Devices:Display:CharacterLcd:I2cBusId"] = "1",
        }, buses);

        Assert.IsType<MirroredDisplay>(services.GetRequiredService<IDisplay>());
        Assert.True(lcd.DisplayOn);
        Assert.Empty(buses.Refusals);
    }

    [Fact]
    public void A_mirror_LCD_that_nothing_answers_for_is_a_warning_and_the_TFT_serves_alone()
    {
        using var rig = new Rig();
        var buses = new EmulatedBuses();
        buses.AttachSpi(new Ili934xPanelEmulator(rig.Board, dataCommandPin: 25, resetPin: 24), maxClockHz: 40_000_000);
        buses.AttachI2c(new Hd44780Pcf8574Emulator(address: 0x27, busId: 1));
        var loggers = new CapturingLoggers();
        using var services = Build(rig, new()
        {
            ["Devices:Display:Kind"] = "Ili934x",
            ["Devices:Display:Ili934x:SpiBusId"] = "0",
            ["Devices:Display:CharacterLcd:I2cBusId"] = "1",
            ["Devices:Display:CharacterLcd:I2cAddress"] = "63", // 0x3F: the backpack is at 0x27
        }, buses, loggers);

        var display = services.GetRequiredService<IDisplay>();

        Assert.IsType<Ili934xDisplay>(display);
        var warning = Assert.Single(loggers.Lines, l => l.StartsWith("Warning:", StringComparison.Ordinal));
        Assert.Contains("Devices:Display:CharacterLcd", warning);
        Assert.Contains("0x3F", warning);
    }

    [Theory]
    [InlineData("46", null)] // 0x2E: where the CHSC6440 answers
    [InlineData("47", "0x2F")] // nothing acknowledges there
    public void The_touch_keypad_is_a_required_I2C_device_a_wrong_address_fails_start_up_naming_the_setting(string address, string? refused)
    {
        using var rig = new Rig();
        var buses = new EmulatedBuses();
        buses.AttachI2c(new Chsc6440TouchEmulator(rig.Board, interruptPin: 26, address: 0x2E, busId: 1));
        using var services = Build(rig, new()
        {
            ["Devices:Keypad:Kind"] = "Touch",
            ["Devices:Keypad:Touch:I2cBusId"] = "1",
            ["Devices:Keypad:Touch:I2cAddress"] = address,
            ["Devices:Keypad:Touch:InterruptPin"] = "26",
            ["Devices:Keypad:Touch:Zones:0:Key"] = "Enter",
            ["Devices:Keypad:Touch:Zones:0:X"] = "0",
            ["Devices:Keypad:Touch:Zones:0:Y"] = "0",
            ["Devices:Keypad:Touch:Zones:0:Width"] = "100",
            ["Devices:Keypad:Touch:Zones:0:Height"] = "100",
        }, buses);

        if (refused is null)
        {
            var keypad = Assert.IsType<TouchKeypad>(services.GetRequiredService<IKeypad>());
            Assert.Equal(DeviceState.Online, keypad.Status.Device);
            Assert.Empty(buses.Refusals);
            return;
        }

        // The keypad is the only way to enter an amount: unlike the mirror LCD it cannot degrade to a warning.
        var error = Assert.Throws<ConfigurationException>(() => services.GetRequiredService<IKeypad>());
        Assert.Equal("Devices:Keypad:Touch:I2cAddress", error.Setting);
        Assert.Contains("Configuration error in Devices:Keypad:Touch:I2cAddress:", error.Message, StringComparison.Ordinal);
        Assert.Contains(refused, error.Message, StringComparison.Ordinal);
        Assert.Contains($"/dev/i2c-1: nothing acknowledges address {refused}", buses.Refusals);
    }

    [Theory]
    [InlineData("1", "24000000")] // a chip select with nothing on it
    [InlineData("0", "80000000")] // over the panel's clock ceiling
    public void A_TFT_whose_id_does_not_read_back_fails_start_up_naming_the_chip_select(string chipSelect, string clockHz)
    {
        using var rig = new Rig();
        var buses = new EmulatedBuses();
        buses.AttachSpi(new Ili934xPanelEmulator(rig.Board, dataCommandPin: 25, resetPin: 24) { MisoWired = true }, maxClockHz: 40_000_000);
        using var services = Build(rig, new()
        {
            ["Devices:Display:Kind"] = "Ili934x",
            ["Devices:Display:Ili934x:MisoWired"] = "true",
            ["Devices:Display:Ili934x:SpiChipSelect"] = chipSelect,
            ["Devices:Display:Ili934x:SpiClockHz"] = clockHz,
        }, buses);

        var error = Assert.Throws<ConfigurationException>(() => services.GetRequiredService<IDisplay>());

        Assert.Equal("Devices:Display:Ili934x:SpiChipSelect", error.Setting);
        Assert.Contains($"/dev/spidev0.{chipSelect}", error.Message);
        Assert.Contains("000000", error.Message);
        Assert.Single(buses.Refusals);
    }

    [Theory]
    [InlineData(true, DeviceState.Online)]
    [InlineData(false, DeviceState.Unverified)]
    public async Task The_TFT_is_Online_when_its_id_reads_back_over_MISO_and_Unverified_without_MISO(bool misoWired, DeviceState expected)
    {
        using var rig = new Rig();
        var buses = new EmulatedBuses();
        buses.AttachSpi(new Ili934xPanelEmulator(rig.Board, dataCommandPin: 25, resetPin: 24) { MisoWired = misoWired }, maxClockHz: 40_000_000);
        using var services = Build(rig, new()
        {
            ["Devices:Display:Kind"] = "Ili934x",
            ["Devices:Display:Ili934x:MisoWired"] = misoWired ? "true" : "false",
        }, buses);

        var display = services.GetRequiredService<IDisplay>();
        Assert.Equal(expected, display.Status.Device);
        await display.ShowAsync(new Screen("Welcome", ["Press ENTER"]), default);
        Assert.Equal(expected, display.Status.Device);
    }

    private static ServiceProvider Build(Rig rig, Dictionary<string, string?> settings, EmulatedBuses? buses = null, ILoggerFactory? loggers = null)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection();
        services.AddSingleton(rig.Gpio);
        services.AddSingleton<TimeProvider>(rig.Clock);
        if (buses is not null)
        {
            services.AddSingleton<IPiBuses>(new EmulatedPiBuses(buses));
        }

        if (loggers is not null)
        {
            services.AddSingleton(loggers);
        }
        services.AddAtmDevices(configuration, b => b.AddRaspberryPiDevices());
        return services.BuildServiceProvider();
    }
}
