using CardlessAtm.Devices.RaspberryPi.Configuration;

namespace CardlessAtm.Devices.RaspberryPi.Keypad;

/// <summary>The rules for <see cref="TouchKeypadOptions"/> and its zones; every failure starts with the full setting path under <c>section</c>.</summary>
/// <param name="section">The configuration path the options are bound from, e.g. <c>Devices:Keypad:Touch</c>.</param>
public sealed class TouchKeypadOptionsValidator(string section) : PiOptionsValidator<TouchKeypadOptions>(section)
{
    /// <inheritdoc/>
    protected override void Check(TouchKeypadOptions options)
    {
        if (options.I2cAddress is < 0x08 or > 0x77)
        {
            throw new ConfigurationException($"{Section}:I2cAddress", $"0x{options.I2cAddress:X2} is not a 7-bit device address (the CHSC6440 answers at 0x2E)");
        }

        PinRules.CheckPin($"{Section}:InterruptPin", options.InterruptPin);
        if (options.ScreenWidth is < 1 or > 4095 || options.ScreenHeight is < 1 or > 4095)
        {
            throw new ConfigurationException($"{Section}:ScreenWidth", $"{options.ScreenWidth}x{options.ScreenHeight} is not a panel size the controller reports (1–4095 each way)");
        }

        TouchZones.Check(Section, options.Zones, options.ScreenWidth, options.ScreenHeight);
    }
}
