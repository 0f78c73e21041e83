using System.Device.I2c;

namespace CardlessAtm.Devices.RaspberryPi.Display;

/// <summary>Settings of an HD44780 character LCD on a PCF8574 I2C backpack (e.g. <c>Devices:Display:CharacterLcd</c>).</summary>
public sealed class CharacterLcdOptions
{
    /// <summary>I2C bus (1 = /dev/i2c-1, the header's SDA1/SCL1).</summary>
    public int I2cBusId { get; set; } = 1;

    /// <summary>Backpack address: 0x27 for PCF8574T, 0x3F for PCF8574AT (set by the A0–A2 jumpers).</summary>
    public int I2cAddress { get; set; } = 0x27;

    /// <summary>Characters per line (20 or 16).</summary>
    public int Columns { get; set; } = 20;

    /// <summary>Lines (4 or 2).</summary>
    public int Rows { get; set; } = 4;

    /// <summary>Checks every setting; <paramref name="section"/> prefixes the setting names in errors.</summary>
    /// <exception cref="ConfigurationException">A setting is out of range.</exception>
    public void Validate(string section = "Devices:Display:CharacterLcd")
    {
        if (I2cBusId is < 0 or > 22)
        {
            throw new ConfigurationException($"{section}:I2cBusId", $"{I2cBusId} is not an I2C bus number (0–22; the header's bus is 1)");
        }

        if (I2cAddress is < 0x08 or > 0x77)
        {
            throw new ConfigurationException($"{section}:I2cAddress", $"0x{I2cAddress:X2} is not a 7-bit device address (0x08–0x77; PCF8574 backpacks use 0x20–0x27 or 0x38–0x3F)");
        }

        if ((Columns, Rows) is not ((20, 4) or (16, 2)))
        {
            throw new ConfigurationException($"{section}:Columns", $"{Columns}x{Rows} is not a supported module; use 20x4 (Columns 20, Rows 4) or 16x2 (Columns 16, Rows 2)");
        }
    }

    /// <summary>The I2C settings of the backpack.</summary>
    public I2cConnectionSettings CreateI2cConnectionSettings() => new(I2cBusId, I2cAddress);
}
