using System.Globalization;
using CardlessAtm.Devices.Configuration;
using CardlessAtm.Devices.RaspberryPi.Keypad;
using CardlessAtm.Devices.RaspberryPi.Sensors;
using CardlessAtm.Devices.RaspberryPi.Touch;
using Microsoft.Extensions.Configuration;

namespace CardlessAtm.Devices.RaspberryPi.Configuration;

/// <summary>
/// Every GPIO line the configured Pi devices take, across all of <c>Devices</c>, checked before any line is opened:
/// one line serves one purpose, and no device takes a line that an interface the configuration uses needs
/// (SPI0 on GPIO 9–11 and its chip selects for the TFT and the XPT2046 touch controller, I2C1 on GPIO 2/3 for the mirror LCD or the touch panel, the header UART on
/// GPIO 14/15 for a dispenser on <c>/dev/serial0</c>). Otherwise a sensor on such a line would silently take it
/// from the bus. Two SPI devices on one chip select are refused too. Each refusal names both settings.
/// </summary>
internal static class PinPlan
{
    /// <summary>The serial ports on the header UART (GPIO 14 TXD, 15 RXD) on a Pi 3, 4 or 5.</summary>
    private static readonly string[] HeaderUartPorts = ["/dev/serial0", "/dev/ttyAMA0", "/dev/ttyS0"];

    /// <summary>Checks the lines of every configured Pi device in <paramref name="devices"/> (the <c>Devices</c> section).</summary>
    /// <exception cref="ConfigurationException">Two settings take one line, or a line an interface in use needs.</exception>
    public static void Check(IConfigurationSection devices)
    {
        var lines = new List<(string Setting, int Pin)>();
        var buses = new List<Bus>();
        AddDisplay(devices.GetSection("Display"), lines, buses);
        AddKeypad(devices.GetSection("Keypad"), lines, buses);
        CheckChipSelects(buses);
        AddSensors(devices.GetSection("Sensors"), lines);
        AddDispenser(devices.GetSection("Dispenser"), buses);

        var taken = new Dictionary<int, string>();
        foreach (var (setting, pin) in lines)
        {
            if (pin < 0)
            {
                continue;
            }

            if (!taken.TryAdd(pin, setting))
            {
                throw new ConfigurationException(setting, $"GPIO {pin} is already used by {taken[pin]}; each line can serve one purpose");
            }

            foreach (var bus in buses)
            {
                if (bus.Pins.TryGetValue(pin, out var role))
                {
                    throw new ConfigurationException(
                        setting,
                        $"GPIO {pin} is {bus.Name}'s {role}, which {bus.Setting} uses ({bus.Device}); taking it as a plain GPIO line would cut that interface off. Move the wire to a free line");
                }
            }
        }
    }

    private static void AddDisplay(IConfigurationSection display, List<(string, int)> lines, List<Bus> buses)
    {
        if (!string.Equals(display["Kind"], RaspberryPiRegistration.Ili934xKind, StringComparison.OrdinalIgnoreCase))
        {
            return;
        }

        var options = RaspberryPiRegistration.ReadDisplayOptions(display);
        var tft = options.Ili934x ?? new Display.Ili934xDisplayOptions();
        var at = $"{display.Path}:Ili934x";
        lines.Add(($"{at}:DataCommandPin", tft.DataCommandPin));
        lines.Add(($"{at}:ResetPin", tft.ResetPin));
        lines.Add(($"{at}:BacklightPin", tft.BacklightPin));
        if (Spi(tft.SpiBusId, tft.SpiChipSelect) is { } spi)
        {
            buses.Add(new Bus($"SPI{tft.SpiBusId}", $"{at}:SpiBusId", "the TFT", spi, (tft.SpiBusId, tft.SpiChipSelect, $"{at}:SpiChipSelect")));
        }

        if (options.CharacterLcd is { } lcd && I2c(lcd.I2cBusId) is { } i2c)
        {
            buses.Add(new Bus($"I2C{lcd.I2cBusId}", $"{display.Path}:CharacterLcd:I2cBusId", "the mirror LCD", i2c));
        }
    }

    private static void AddKeypad(IConfigurationSection keypad, List<(string, int)> lines, List<Bus> buses)
    {
        var kind = keypad["Kind"];
        if (string.Equals(kind, RaspberryPiRegistration.MatrixKind, StringComparison.OrdinalIgnoreCase))
        {
            var own = keypad.GetSection(RaspberryPiRegistration.MatrixKind);
            var options = RaspberryPiRegistration.ReadMatrixOptions(own);
            lines.AddRange(options.RowPins.Select((p, i) => ($"{own.Path}:RowPins:{i}", p)));
            lines.AddRange(options.ColumnPins.Select((p, i) => ($"{own.Path}:ColumnPins:{i}", p)));
        }
        else if (string.Equals(kind, RaspberryPiRegistration.TouchKind, StringComparison.OrdinalIgnoreCase))
        {
            var own = keypad.GetSection(RaspberryPiRegistration.TouchKind);
            var options = new TouchKeypadOptions();
            AtmDevicesBuilder.Bind(own, options);
            lines.Add(($"{own.Path}:InterruptPin", options.InterruptPin));
            if (I2c(options.I2cBusId) is { } i2c)
            {
                buses.Add(new Bus($"I2C{options.I2cBusId}", $"{own.Path}:I2cBusId", "the touch panel", i2c));
            }
        }
        else if (string.Equals(kind, RaspberryPiRegistration.Xpt2046Kind, StringComparison.OrdinalIgnoreCase))
        {
            var own = keypad.GetSection(RaspberryPiRegistration.Xpt2046Kind);
            var options = new Xpt2046Options();
            AtmDevicesBuilder.Bind(own, options);
            lines.Add(($"{own.Path}:{nameof(options.PenIrqPin)}", options.PenIrqPin));
            if (Spi(options.SpiBusId, options.SpiChipSelect) is { } spi)
            {
                buses.Add(new Bus(
                    $"SPI{options.SpiBusId}", $"{own.Path}:SpiBusId", "the touch controller", spi, (options.SpiBusId, options.SpiChipSelect, $"{own.Path}:{nameof(options.SpiChipSelect)}")));
            }
        }
    }

    /// <summary>The TFT and the touch controller share SPI0 only on different chip selects: on one, both would answer every transfer.</summary>
    private static void CheckChipSelects(List<Bus> buses)
    {
        var selects = new Dictionary<(int Bus, int ChipSelect), string>();
        foreach (var bus in buses)
        {
            if (bus.ChipSelect is not { } cs)
            {
                continue;
            }

            if (!selects.TryAdd((cs.Bus, cs.ChipSelect), cs.Setting))
            {
                throw new ConfigurationException(
                    cs.Setting,
                    $"SPI{cs.Bus} chip select {cs.ChipSelect} is already {selects[(cs.Bus, cs.ChipSelect)]}'s; each SPI device needs its own (the TFT on CE0, the touch controller on CE1)");
            }
        }
    }

    private static void AddSensors(IConfigurationSection sensors, List<(string, int)> lines)
    {
        if (!string.Equals(sensors["Kind"], RaspberryPiRegistration.GpioKind, StringComparison.OrdinalIgnoreCase))
        {
            return;
        }

        var own = sensors.GetSection(RaspberryPiRegistration.GpioKind);
        var options = new GpioFaultSensorsOptions();
        AtmDevicesBuilder.Bind(own, options);
        for (var i = 0; i < options.Sensors.Count; i++)
        {
            if (options.Sensors[i].Pin is { } pin)
            {
                lines.Add(($"{own.Path}:Sensors:{i}:Pin", pin));
            }
        }
    }

    private static void AddDispenser(IConfigurationSection dispenser, List<Bus> buses)
    {
        // The dispenser driver lives in its own assembly: read only the port it names.
        var port = dispenser.GetSection("Lcdm2000")["PortName"];
        if (string.Equals(dispenser["Kind"], "Lcdm2000", StringComparison.OrdinalIgnoreCase)
            && port is not null && HeaderUartPorts.Contains(port, StringComparer.Ordinal))
        {
            buses.Add(new Bus("the header UART", $"{dispenser.Path}:Lcdm2000:PortName", $"the dispenser on {port}", new() { [14] = "TXD", [15] = "RXD" }));
        }
    }

    /// <summary>
    /// The lines of SPI bus <paramref name="bus"/>: clock, data and the chip select in use; null for a bus not on the header.
    /// The other chip select of SPI0 stays free for GPIO only with <c>dtoverlay=spi0-1cs</c> (the pin table's cassette 2
    /// on GPIO 7), which <c>devices doctor</c>'s overlay check and the guide name.
    /// </summary>
    private static Dictionary<int, string>? Spi(int bus, int chipSelect) => bus switch
    {
        0 => new() { [9] = "MISO", [10] = "MOSI", [11] = "SCLK", [chipSelect == 1 ? 7 : 8] = string.Create(CultureInfo.InvariantCulture, $"CE{chipSelect}") },
        1 => new() { [19] = "MISO", [20] = "MOSI", [21] = "SCLK", [chipSelect switch { 0 => 18, 1 => 17, _ => 16 }] = string.Create(CultureInfo.InvariantCulture, $"CE{chipSelect}") },
        _ => null,
    };

    /// <summary>The lines of I2C bus <paramref name="bus"/> on the header (I2C1 on GPIO 2/3, I2C0 on GPIO 0/1); null for others, whose lines depend on the overlay.</summary>
    private static Dictionary<int, string>? I2c(int bus) => bus switch
    {
        1 => new() { [2] = "SDA", [3] = "SCL" },
        0 => new() { [0] = "SDA", [1] = "SCL" },
        _ => null,
    };

    private sealed record Bus(string Name, string Setting, string Device, Dictionary<int, string> Pins, (int Bus, int ChipSelect, string Setting)? ChipSelect = null);
}
