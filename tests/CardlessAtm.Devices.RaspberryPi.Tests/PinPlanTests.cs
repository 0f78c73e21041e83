using CardlessAtm.Devices.Configuration;
using CardlessAtm.Devices.Keypad;
using CardlessAtm.Devices.Sensors;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace CardlessAtm.Devices.RaspberryPi.Tests;

/// <summary>
/// One GPIO line, one purpose, across every section of <c>Devices</c>; and no plain GPIO on a line an interface the
/// configuration uses needs (issue 14's hardware review: a sensor on GPIO 2/3, 7–11 or 14/15 took over I2C, SPI or the
/// UART without a word). Each refusal names both settings.
/// </summary>
public class PinPlanTests
{
    [Fact]
    public void A_sensor_on_the_tft_data_command_line_is_refused_naming_both_settings()
    {
        var error = Assert.Throws<ConfigurationException>(() => ResolveSensors(new()
        {
            ["Devices:Display:Kind"] = "Ili934x",
            ["Devices:Display:Ili934x:DataCommandPin"] = "25",
            ["Devices:Sensors:Gpio:Sensors:0:Pin"] = "25",
        }));

        Assert.Equal("Devices:Sensors:Gpio:Sensors:0:Pin", error.Setting);
        Assert.Contains("GPIO 25 is already used by Devices:Display:Ili934x:DataCommandPin", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_sensor_on_spi0_mosi_is_refused_while_the_tft_uses_spi0()
    {
        var error = Assert.Throws<ConfigurationException>(() => ResolveSensors(new()
        {
            ["Devices:Display:Kind"] = "Ili934x",
            ["Devices:Sensors:Gpio:Sensors:0:Pin"] = "10",
        }));

        Assert.Equal("Devices:Sensors:Gpio:Sensors:0:Pin", error.Setting);
        Assert.Contains("GPIO 10 is SPI0's MOSI, which Devices:Display:Ili934x:SpiBusId uses (the TFT)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_sensor_on_i2c1_sda_is_refused_while_the_mirror_lcd_uses_i2c1()
    {
        var error = Assert.Throws<ConfigurationException>(() => ResolveSensors(new()
        {
            ["Devices:Display:Kind"] = "Ili934x",
            ["Devices:Display:CharacterLcd:I2cAddress"] = "39",
            ["Devices:Sensors:Gpio:Sensors:0:Pin"] = "2",
        }));

        Assert.Contains("GPIO 2 is I2C1's SDA, which Devices:Display:CharacterLcd:I2cBusId uses (the mirror LCD)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_keypad_column_on_the_uart_is_refused_while_the_dispenser_is_on_serial0()
    {
        using var rig = new Rig();
        using var services = Build(rig, new()
        {
            ["Devices:Dispenser:Kind"] = "Lcdm2000",
            ["Devices:Dispenser:Lcdm2000:PortName"] = "/dev/serial0",
            ["Devices:Keypad:Kind"] = "Matrix",
            ["Devices:Keypad:Matrix:RowPins:0"] = "5",
            ["Devices:Keypad:Matrix:ColumnPins:0"] = "14",
            ["Devices:Keypad:Matrix:KeyMap:0"] = "Enter",
        });

        var error = Assert.Throws<ConfigurationException>(() => services.GetRequiredService<IKeypad>());

        Assert.Equal("Devices:Keypad:Matrix:ColumnPins:0", error.Setting);
        Assert.Contains("GPIO 14 is the header UART's TXD, which Devices:Dispenser:Lcdm2000:PortName uses (the dispenser on /dev/serial0)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_default_keypad_lines_collide_with_a_sensor_in_another_section()
    {
        using var rig = new Rig();
        using var services = Build(rig, new()
        {
            ["Devices:Keypad:Kind"] = "Matrix",
            ["Devices:Sensors:Kind"] = "Gpio",
            ["Devices:Sensors:Gpio:Sensors:0:Id"] = "SafeDoor",
            ["Devices:Sensors:Gpio:Sensors:0:Kind"] = "SafeDoor",
            ["Devices:Sensors:Gpio:Sensors:0:Pin"] = "13", // the default matrix's third row
        });

        var error = Assert.Throws<ConfigurationException>(() => services.GetRequiredService<IKeypad>());

        Assert.Equal("Devices:Sensors:Gpio:Sensors:0:Pin", error.Setting);
        Assert.Contains("GPIO 13 is already used by Devices:Keypad:Matrix:RowPins:2", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_sensor_on_the_touch_controllers_penirq_line_is_refused_naming_both_settings()
    {
        var error = Assert.Throws<ConfigurationException>(() => ResolveSensors(new()
        {
            ["Devices:Keypad:Kind"] = "Xpt2046",
            ["Devices:Keypad:Xpt2046:PenIrqPin"] = "22",
            ["Devices:Sensors:Gpio:Sensors:0:Pin"] = "22",
        }));

        Assert.Equal("Devices:Sensors:Gpio:Sensors:0:Pin", error.Setting);
        Assert.Contains("GPIO 22 is already used by Devices:Keypad:Xpt2046:PenIrqPin", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_sensor_on_spi0_ce1_is_refused_while_the_touch_controller_uses_it()
    {
        var error = Assert.Throws<ConfigurationException>(() => ResolveSensors(new()
        {
            ["Devices:Keypad:Kind"] = "Xpt2046",
            ["Devices:Sensors:Gpio:Sensors:0:Pin"] = "7",
        }));

        Assert.Contains("GPIO 7 is SPI0's CE1, which Devices:Keypad:Xpt2046:SpiBusId uses (the touch controller)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_touch_controller_on_the_tfts_chip_select_is_refused_naming_both_settings()
    {
        using var rig = new Rig();
        using var services = Build(rig, new()
        {
            ["Devices:Display:Kind"] = "Ili934x",
            ["Devices:Keypad:Kind"] = "Xpt2046",
            ["Devices:Keypad:Xpt2046:SpiChipSelect"] = "0",
            ["Devices:Keypad:Xpt2046:Zones:0:Key"] = "Enter",
            ["Devices:Keypad:Xpt2046:Zones:0:Width"] = "100",
            ["Devices:Keypad:Xpt2046:Zones:0:Height"] = "40",
        });

        var error = Assert.Throws<ConfigurationException>(() => services.GetRequiredService<IKeypad>());

        Assert.Equal("Devices:Keypad:Xpt2046:SpiChipSelect", error.Setting);
        Assert.Contains("SPI0 chip select 0 is already Devices:Display:Ili934x:SpiChipSelect's", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bus_lines_are_plain_gpio_when_no_configured_device_uses_the_bus()
    {
        using var rig = new Rig();
        rig.Board.AddSwitch("SafeDoor", 10, System.Device.Gpio.PinValue.Low, closed: true);

        var sensors = Assert.IsType<Sensors.GpioFaultSensors>(ResolveSensors(new() { ["Devices:Sensors:Gpio:Sensors:0:Pin"] = "10" }, rig));

        Assert.Equal(SensorState.Normal, sensors.Status.StateOf(SensorKind.SafeDoor));
        sensors.Dispose();
    }

    private static IFaultSensors ResolveSensors(Dictionary<string, string?> settings, Rig? rig = null)
    {
        settings["Devices:Sensors:Kind"] = "Gpio";
        settings["Devices:Sensors:Gpio:Sensors:0:Id"] = "SafeDoor";
        settings["Devices:Sensors:Gpio:Sensors:0:Kind"] = "SafeDoor";
        using var own = rig is null ? new Rig() : null;
        var services = Build(rig ?? own!, settings);
        return services.GetRequiredService<IFaultSensors>();
    }

    internal static ServiceProvider Build(Rig rig, Dictionary<string, string?> settings)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection();
        services.AddSingleton(rig.Gpio);
        services.AddSingleton<TimeProvider>(rig.Clock);
        services.AddAtmDevices(configuration, b => b.AddRaspberryPiDevices());
        return services.BuildServiceProvider();
    }
}
