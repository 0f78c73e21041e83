
namespace CardlessAtm.Devices.RaspberryPi.Display;

/// <summary>
/// Which displays a Raspberry Pi rig has (e.g. <c>Devices:Display</c>). The customer display
/// must be able to show the QR code: an ILI934x TFT is the customer display; a character LCD may
/// be added beside it (e.g. for service messages) but is refused as the only display.
/// </summary>
public sealed class RaspberryPiDisplayOptions
{
    /// <summary>The SPI TFT, or null when none is fitted.</summary>
    public Ili934xDisplayOptions? Ili934x { get; set; }

    /// <summary>The character LCD, or null when none is fitted.</summary>
    public CharacterLcdOptions? CharacterLcd { get; set; }

    /// <summary>Checks the set of displays and each display's settings.</summary>
    /// <exception cref="ConfigurationException">No display, only a character LCD, or a bad setting.</exception>
    public void Validate(string section = "Devices:Display")
    {
        if (Ili934x is null && CharacterLcd is not null)
        {
            throw new ConfigurationException(
                $"{section}:Ili934x",
                "the only display configured is a character LCD (HD44780), which cannot show the QR code a cardless withdrawal needs; "
                + $"a graphic display is needed for the QR: configure {section}:Ili934x (ILI9341 or ILI9342 SPI TFT)");
        }

        if (Ili934x is null)
        {
            throw new ConfigurationException(
                $"{section}:Ili934x",
                "no display is configured; a graphic display is needed for the QR: configure an ILI9341 or ILI9342 SPI TFT");
        }

        new Ili934xDisplayOptionsValidator($"{section}:Ili934x").ThrowIfInvalid(Ili934x);
        if (CharacterLcd is not null)
        {
            new CharacterLcdOptionsValidator($"{section}:CharacterLcd").ThrowIfInvalid(CharacterLcd);
        }
    }
}
