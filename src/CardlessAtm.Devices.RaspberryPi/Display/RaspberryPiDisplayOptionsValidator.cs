using CardlessAtm.Devices.RaspberryPi.Configuration;

namespace CardlessAtm.Devices.RaspberryPi.Display;

/// <summary>
/// The rule for the set of displays in <see cref="RaspberryPiDisplayOptions"/>: a graphic TFT is the customer display, a
/// character LCD only beside it. Each display's own settings are checked by <see cref="Ili934xDisplayOptionsValidator"/> and
/// <see cref="CharacterLcdOptionsValidator"/>. Every failure starts with the full setting path under <c>section</c>.
/// </summary>
/// <param name="section">The configuration path of the displays, e.g. <c>Devices:Display</c>.</param>
public sealed class RaspberryPiDisplayOptionsValidator(string section) : PiOptionsValidator<RaspberryPiDisplayOptions>(section)
{
    /// <inheritdoc/>
    protected override void Check(RaspberryPiDisplayOptions options)
    {
        if (options.Ili934x is null && options.CharacterLcd is not null)
        {
            throw new ConfigurationException(
                $"{Section}:Ili934x",
                "the only display configured is a character LCD (HD44780), which cannot show the QR code a cardless withdrawal needs; "
                + $"a graphic display is needed for the QR: configure {Section}:Ili934x (ILI9341 or ILI9342 SPI TFT)");
        }

        if (options.Ili934x is null)
        {
            throw new ConfigurationException(
                $"{Section}:Ili934x",
                "no display is configured; a graphic display is needed for the QR: configure an ILI9341 or ILI9342 SPI TFT");
        }
    }
}
