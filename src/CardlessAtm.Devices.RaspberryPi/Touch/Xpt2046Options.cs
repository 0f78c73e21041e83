using System.Device.Spi;
using CardlessAtm.Devices.Keypad;
using CardlessAtm.Devices.RaspberryPi.Configuration;
using CardlessAtm.Devices.RaspberryPi.Keypad;

namespace CardlessAtm.Devices.RaspberryPi.Touch;

/// <summary>
/// Settings of an XPT2046 resistive touch layer used as a keypad (<c>Devices:Keypad:Xpt2046</c>). The raw ranges are
/// the ADC readings at the panel's edges, found with the calibration steps in the README.
/// </summary>
public sealed class Xpt2046Options
{
    /// <summary>The configuration section these options are bound from.</summary>
    public const string SectionName = "Devices:Keypad:Xpt2046";

    /// <summary>SPI bus (0 = the header's SPI0, shared with the TFT).</summary>
    public int SpiBusId { get; set; }

    /// <summary>Chip select of the touch controller (1 = CE1, GPIO 7; the TFT has CE0).</summary>
    public int SpiChipSelect { get; set; } = 1;

    /// <summary>SPI clock of the touch controller: its own, far below the TFT's (at most 2.5 MHz). Default 2 MHz.</summary>
    public int SpiClockHz { get; set; } = 2_000_000;

    /// <summary>BCM pin of PENIRQ (T_IRQ on the module; Low while the panel is pressed). Default 26, the line the pin table keeps for a touch controller.</summary>
    public int PenIrqPin { get; set; } = 26;

    /// <summary>Panel width in pixels (the display's, in the orientation the zones use).</summary>
    public int ScreenWidth { get; set; } = 320;

    /// <summary>Panel height in pixels.</summary>
    public int ScreenHeight { get; set; } = 240;

    /// <summary>X-channel reading at one edge of the panel (the smaller of the two). Default 200.</summary>
    public int RawXMin { get; set; } = 200;

    /// <summary>X-channel reading at the opposite edge. Default 3900.</summary>
    public int RawXMax { get; set; } = 3900;

    /// <summary>Y-channel reading at one edge of the panel (the smaller of the two). Default 200.</summary>
    public int RawYMin { get; set; } = 200;

    /// <summary>Y-channel reading at the opposite edge. Default 3900.</summary>
    public int RawYMax { get; set; } = 3900;

    /// <summary>The X channel runs along the screen's height (the touch layer is rotated 90° against the display).</summary>
    public bool SwapXY { get; set; }

    /// <summary>Screen X grows as the (swapped) X reading falls.</summary>
    public bool InvertX { get; set; }

    /// <summary>Screen Y grows as the (swapped) Y reading falls.</summary>
    public bool InvertY { get; set; }

    /// <summary>Least pressure (Z1 + 4095 − Z2) that counts as a touch; lighter contact is ignored. Default 400.</summary>
    public int PressureThreshold { get; set; } = 400;

    /// <summary>Conversions per axis in one reading; their median-near values are averaged. 3..16, default 7.</summary>
    public int SamplesPerReading { get; set; } = 7;

    /// <summary>Samples farther than this from the median (raw units) are outliers and dropped. Default 60.</summary>
    public int MaxSampleSpread { get; set; } = 60;

    /// <summary>How often the pen line is looked at. Default 10 ms.</summary>
    public int PollIntervalMilliseconds { get; set; } = 10;

    /// <summary>How long a touch must hold before it is a press. Default 30 ms.</summary>
    public int PressDebounceMilliseconds { get; set; } = 30;

    /// <summary>How long the panel must stay untouched before the press ends (a new press may follow). Default 60 ms.</summary>
    public int ReleaseDebounceMilliseconds { get; set; } = 60;

    /// <summary>The on-screen buttons.</summary>
    public List<TouchZoneOptions> Zones { get; set; } = [];

    /// <summary>Checks every setting and returns the zones with their keys.</summary>
    /// <exception cref="ConfigurationException">A setting is invalid; the message names it.</exception>
    public IReadOnlyList<(System.Drawing.Rectangle Area, AtmKey Key)> Validate(string section = SectionName)
    {
        if (SpiBusId is < 0 or > 6)
        {
            throw new ConfigurationException($"{section}:{nameof(SpiBusId)}", $"{SpiBusId} is not an SPI bus of the Pi (0–6)");
        }

        if (SpiChipSelect is < 0 or > 2)
        {
            throw new ConfigurationException($"{section}:{nameof(SpiChipSelect)}", $"{SpiChipSelect} is not a chip select (0–2; the TFT usually has 0, the touch controller 1)");
        }

        if (SpiClockHz is < 10_000 or > Xpt2046.MaxClockHz)
        {
            throw new ConfigurationException($"{section}:{nameof(SpiClockHz)}", $"{SpiClockHz} Hz is outside 10 kHz–2.5 MHz, the XPT2046's range (the TFT's faster clock is its own setting)");
        }

        PinRules.CheckPin($"{section}:{nameof(PenIrqPin)}", PenIrqPin);
        if (ScreenWidth is < 1 or > 4095 || ScreenHeight is < 1 or > 4095)
        {
            throw new ConfigurationException($"{section}:{nameof(ScreenWidth)}", $"{ScreenWidth}x{ScreenHeight} is not a panel size (1–4095 each way)");
        }

        CheckRange(section, nameof(RawXMin), RawXMin, nameof(RawXMax), RawXMax);
        CheckRange(section, nameof(RawYMin), RawYMin, nameof(RawYMax), RawYMax);
        if (PressureThreshold is < 1 or > 2 * Xpt2046.MaxValue)
        {
            throw new ConfigurationException($"{section}:{nameof(PressureThreshold)}", $"{PressureThreshold} is outside 1–8190 (pressure is Z1 + 4095 − Z2)");
        }

        if (SamplesPerReading is < 3 or > 16)
        {
            throw new ConfigurationException($"{section}:{nameof(SamplesPerReading)}", $"{SamplesPerReading} is outside 3–16 (at least three, so that an outlier can be told from the rest)");
        }

        if (MaxSampleSpread is < 1 or > Xpt2046.MaxValue)
        {
            throw new ConfigurationException($"{section}:{nameof(MaxSampleSpread)}", $"{MaxSampleSpread} is outside 1–4095");
        }

        CheckMilliseconds(section, nameof(PollIntervalMilliseconds), PollIntervalMilliseconds, 1, 100);
        CheckMilliseconds(section, nameof(PressDebounceMilliseconds), PressDebounceMilliseconds, 0, 500);
        CheckMilliseconds(section, nameof(ReleaseDebounceMilliseconds), ReleaseDebounceMilliseconds, 0, 1000);
        return TouchZones.Validate(section, Zones, ScreenWidth, ScreenHeight);
    }

    /// <summary>The controller's own SPI settings: its chip select and slow clock, mode 0.</summary>
    public SpiConnectionSettings CreateSpiConnectionSettings() =>
        new(SpiBusId, SpiChipSelect) { ClockFrequency = SpiClockHz, Mode = SpiMode.Mode0, DataBitLength = 8 };

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
