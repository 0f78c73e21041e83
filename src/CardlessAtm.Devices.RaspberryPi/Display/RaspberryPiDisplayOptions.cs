
namespace CardlessAtm.Devices.RaspberryPi.Display;

/// <summary>
/// Which displays a Raspberry Pi rig has; the set is checked by <see cref="RaspberryPiDisplayOptionsValidator"/>, each display by its own validator. The customer display
/// must be able to show the QR code: an ILI934x TFT is the customer display; a character LCD may
/// be added beside it (e.g. for service messages) but is refused as the only display.
/// </summary>
public sealed class RaspberryPiDisplayOptions
{
    /// <summary>The SPI TFT, or null when none is fitted.</summary>
    public Ili934xDisplayOptions? Ili934x { get; set; }

    /// <summary>The character LCD, or null when none is fitted.</summary>
    public CharacterLcdOptions? CharacterLcd { get; set; }
}
