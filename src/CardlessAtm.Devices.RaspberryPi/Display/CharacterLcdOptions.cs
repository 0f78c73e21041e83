using System.Device.I2c;

namespace CardlessAtm.Devices.RaspberryPi.Display;

/// <summary>Settings of an HD44780 character LCD on a PCF8574 I2C backpack; checked by <see cref="CharacterLcdOptionsValidator"/>.</summary>
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

    /// <summary>The I2C settings of the backpack.</summary>
    public I2cConnectionSettings CreateI2cConnectionSettings() => new(I2cBusId, I2cAddress);
}
