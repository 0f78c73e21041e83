using CardlessAtm.Devices.RaspberryPi.Configuration;
using CardlessAtm.Devices.RaspberryPi.Keypad;

namespace CardlessAtm.Devices.RaspberryPi.Touch;

/// <summary>The rules for <see cref="Xpt2046Options"/> and its zones; every failure starts with the full setting path under <c>section</c>.</summary>
/// <param name="section">The configuration path the options are bound from, e.g. <c>Devices:Keypad:Xpt2046</c>.</param>
public sealed class Xpt2046OptionsValidator(string section) : PiOptionsValidator<Xpt2046Options>(section)
{
    /// <inheritdoc/>
    protected override void Check(Xpt2046Options options)
    {
        if (options.SpiBusId is < 0 or > 6)
        {
            throw new ConfigurationException($"{Section}:{nameof(Xpt2046Options.SpiBusId)}", $"{options.SpiBusId} is not an SPI bus of the Pi (0–6)");
        }

        if (options.SpiChipSelect is < 0 or > 2)
        {
            throw new ConfigurationException($"{Section}:{nameof(Xpt2046Options.SpiChipSelect)}", $"{options.SpiChipSelect} is not a chip select (0–2; the TFT usually has 0, the touch controller 1)");
        }

        if (options.SpiClockHz is < 10_000 or > Xpt2046.MaxClockHz)
        {
            throw new ConfigurationException($"{Section}:{nameof(Xpt2046Options.SpiClockHz)}", $"{options.SpiClockHz} Hz is outside 10 kHz–2.5 MHz, the XPT2046's range (the TFT's faster clock is its own setting)");
        }

        PinRules.CheckPin($"{Section}:{nameof(Xpt2046Options.PenIrqPin)}", options.PenIrqPin);
        if (options.ScreenWidth is < 1 or > 4095 || options.ScreenHeight is < 1 or > 4095)
        {
            throw new ConfigurationException($"{Section}:{nameof(Xpt2046Options.ScreenWidth)}", $"{options.ScreenWidth}x{options.ScreenHeight} is not a panel size (1–4095 each way)");
        }

        CheckRange(Section, nameof(Xpt2046Options.RawXMin), options.RawXMin, nameof(Xpt2046Options.RawXMax), options.RawXMax);
        CheckRange(Section, nameof(Xpt2046Options.RawYMin), options.RawYMin, nameof(Xpt2046Options.RawYMax), options.RawYMax);
        if (options.PressureThreshold is < 1 or > 2 * Xpt2046.MaxValue)
        {
            throw new ConfigurationException($"{Section}:{nameof(Xpt2046Options.PressureThreshold)}", $"{options.PressureThreshold} is outside 1–8190 (pressure is Z1 + 4095 − Z2)");
        }

        if (options.SamplesPerReading is < 3 or > 16)
        {
            throw new ConfigurationException($"{Section}:{nameof(Xpt2046Options.SamplesPerReading)}", $"{options.SamplesPerReading} is outside 3–16 (at least three, so that an outlier can be told from the rest)");
        }

        if (options.MaxSampleSpread is < 1 or > Xpt2046.MaxValue)
        {
            throw new ConfigurationException($"{Section}:{nameof(Xpt2046Options.MaxSampleSpread)}", $"{options.MaxSampleSpread} is outside 1–4095");
        }

        CheckMilliseconds(Section, nameof(Xpt2046Options.PollIntervalMilliseconds), options.PollIntervalMilliseconds, 1, 100);
        CheckMilliseconds(Section, nameof(Xpt2046Options.PressDebounceMilliseconds), options.PressDebounceMilliseconds, 0, 500);
        CheckMilliseconds(Section, nameof(Xpt2046Options.ReleaseDebounceMilliseconds), options.ReleaseDebounceMilliseconds, 0, 1000);
        TouchZones.Check(Section, options.Zones, options.ScreenWidth, options.ScreenHeight);
    }

    private static void CheckRange(string section, string minName, int min, string maxName, int max)
    {
        if (min < 0 || max > Xpt2046.MaxValue || max - min < 100)
        {
            throw new ConfigurationException(
                $"{section}:{minName}",
                $"{minName} {min} and {maxName} {max} must lie in 0–4095 with {maxName} at least 100 above {minName} (for a reversed axis set the Invert setting instead)");
        }
    }

    private static void CheckMilliseconds(string section, string name, int value, int min, int max)
    {
        if (value < min || value > max)
        {
            throw new ConfigurationException($"{section}:{name}", $"{value} ms is outside {min}–{max} ms");
        }
    }
}
