using CardlessAtm.Devices.RaspberryPi.Configuration;

namespace CardlessAtm.Devices.RaspberryPi.Display;

/// <summary>The rules for <see cref="Ili934xDisplayOptions"/>; every failure starts with the full setting path under <c>section</c>.</summary>
public sealed class Ili934xDisplayOptionsValidator : PiOptionsValidator<Ili934xDisplayOptions>
{
    private readonly int? _spidevBufferLimit;

    /// <summary>Creates the validator.</summary>
    /// <param name="section">The configuration path the options are bound from, e.g. <c>Devices:Display:Ili934x</c>.</param>
    /// <param name="spidevBufferLimit">spidev's largest transfer; null reads it from <see cref="SpidevBuffer.ParameterPath"/>.</param>
    public Ili934xDisplayOptionsValidator(string section, int? spidevBufferLimit = null)
        : base(section)
    {
        _spidevBufferLimit = spidevBufferLimit;
    }

    /// <inheritdoc/>
    protected override void Check(Ili934xDisplayOptions options)
    {
        if (!Enum.IsDefined(options.Model))
        {
            throw new ConfigurationException($"{Section}:Model", $"'{options.Model}' is not a supported controller; use Ili9341 or Ili9342");
        }

        if (options.SpiBusId is < 0 or > 6)
        {
            throw new ConfigurationException($"{Section}:SpiBusId", $"{options.SpiBusId} is not an SPI bus of a Raspberry Pi (0–6)");
        }

        if (options.SpiChipSelect is < 0 or > 2)
        {
            throw new ConfigurationException($"{Section}:SpiChipSelect", $"{options.SpiChipSelect} is not a chip select (0–2)");
        }

        if (options.SpiClockHz is < 100_000 or > 80_000_000)
        {
            throw new ConfigurationException($"{Section}:SpiClockHz", $"{options.SpiClockHz} Hz is outside 100 kHz–80 MHz");
        }

        if (options.SpiBufferSize is < 64 or > 65_536)
        {
            throw new ConfigurationException($"{Section}:SpiBufferSize", $"{options.SpiBufferSize} bytes is outside 64–65536 (spidev's default is 4096)");
        }

        var limit = _spidevBufferLimit ?? SpidevBuffer.ReadLimit();
        if (options.SpiBufferSize > limit)
        {
            throw new ConfigurationException(
                $"{Section}:SpiBufferSize",
                $"{options.SpiBufferSize} bytes is more than spidev's buffer ({limit} bytes, {SpidevBuffer.ParameterPath}), so every transfer would fail; lower it, or add spidev.bufsiz={options.SpiBufferSize} to /boot/firmware/cmdline.txt and reboot");
        }

        PinRules.CheckPin($"{Section}:DataCommandPin", options.DataCommandPin);
        PinRules.CheckPin($"{Section}:ResetPin", options.ResetPin, optional: true);
        PinRules.CheckPin($"{Section}:BacklightPin", options.BacklightPin, optional: true);
        PinRules.CheckDistinct(Section, [
            ($"{Section}:DataCommandPin", options.DataCommandPin),
            ($"{Section}:ResetPin", options.ResetPin),
            ($"{Section}:BacklightPin", options.BacklightPin),
        ]);
    }
}
