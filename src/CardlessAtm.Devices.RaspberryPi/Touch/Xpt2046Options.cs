using System.Device.Spi;
using CardlessAtm.Devices.Keypad;
using CardlessAtm.Devices.RaspberryPi.Keypad;

namespace CardlessAtm.Devices.RaspberryPi.Touch;

/// <summary>
/// Settings of an XPT2046 resistive touch layer used as a keypad; checked by <see cref="Xpt2046OptionsValidator"/>. The raw ranges are
/// the ADC readings at the panel's edges, found with the calibration steps in the README.
/// </summary>
public sealed class Xpt2046Options
{
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

    /// <summary>The on-screen buttons with their keys, from options <see cref="Xpt2046OptionsValidator"/> accepted.</summary>
    public IReadOnlyList<(System.Drawing.Rectangle Area, AtmKey Key)> BuildZones() => TouchZones.Build(Zones);

    /// <summary>The controller's own SPI settings: its chip select and slow clock, mode 0.</summary>
    public SpiConnectionSettings CreateSpiConnectionSettings() =>
        new(SpiBusId, SpiChipSelect) { ClockFrequency = SpiClockHz, Mode = SpiMode.Mode0, DataBitLength = 8 };
}
