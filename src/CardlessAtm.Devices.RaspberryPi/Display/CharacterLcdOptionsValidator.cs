using CardlessAtm.Devices.RaspberryPi.Configuration;

namespace CardlessAtm.Devices.RaspberryPi.Display;

/// <summary>The rules for <see cref="CharacterLcdOptions"/>; every failure starts with the full setting path under <c>section</c>.</summary>
/// <param name="section">The configuration path the options are bound from, e.g. <c>Devices:Display:CharacterLcd</c>.</param>
public sealed class CharacterLcdOptionsValidator(string section) : PiOptionsValidator<CharacterLcdOptions>(section)
{
    /// <inheritdoc/>
    protected override void Check(CharacterLcdOptions options)
    {
        if (options.I2cBusId is < 0 or > 22)
        {
            throw new ConfigurationException($"{Section}:I2cBusId", $"{options.I2cBusId} is not an I2C bus number (0–22; the header's bus is 1)");
        }

        if (options.I2cAddress is < 0x08 or > 0x77)
        {
            throw new ConfigurationException($"{Section}:I2cAddress", $"0x{options.I2cAddress:X2} is not a 7-bit device address (0x08–0x77; PCF8574 backpacks use 0x20–0x27 or 0x38–0x3F)");
        }

        if ((options.Columns, options.Rows) is not ((20, 4) or (16, 2)))
        {
            throw new ConfigurationException($"{Section}:Columns", $"{options.Columns}x{options.Rows} is not a supported module; use 20x4 (Columns 20, Rows 4) or 16x2 (Columns 16, Rows 2)");
        }
    }
}
