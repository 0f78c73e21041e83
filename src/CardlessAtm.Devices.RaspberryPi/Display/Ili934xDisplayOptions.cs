using System.Device.Spi;

namespace CardlessAtm.Devices.RaspberryPi.Display;

/// <summary>Which ILI934x controller drives the TFT.</summary>
public enum Ili934xModel
{
    /// <summary>ILI9341, 240×320 portrait (the common 2.4"/2.8" SPI modules).</summary>
    Ili9341,

    /// <summary>ILI9342(C), 320×240 landscape (e.g. M5Stack-style panels).</summary>
    Ili9342,
}

/// <summary>
/// Settings of an ILI9341/ILI9342 SPI TFT; checked by <see cref="Ili934xDisplayOptionsValidator"/>.
/// The SPI values are for whoever opens the bus (<see cref="CreateSpiConnectionSettings"/>); the driver takes the opened bus.
/// </summary>
public sealed class Ili934xDisplayOptions
{
    /// <summary>Controller model.</summary>
    public Ili934xModel Model { get; set; } = Ili934xModel.Ili9341;

    /// <summary>SPI bus (0 = /dev/spidev0.x).</summary>
    public int SpiBusId { get; set; }

    /// <summary>SPI chip select (0 = CE0, /dev/spidev0.0).</summary>
    public int SpiChipSelect { get; set; }

    /// <summary>SPI clock in Hz (the binding's default is 12 MHz; long wires may need less).</summary>
    public int SpiClockHz { get; set; } = 12_000_000;

    /// <summary>BCM pin of the D/C (data/command) line.</summary>
    public int DataCommandPin { get; set; } = 25;

    /// <summary>BCM pin of RESET, or -1 when tied high.</summary>
    public int ResetPin { get; set; } = 24;

    /// <summary>BCM pin switching the backlight, or -1 when always on.</summary>
    public int BacklightPin { get; set; } = 18;

    /// <summary>
    /// Whether the panel's SDO (MISO) pin is wired to the Pi's MISO (GPIO9). When it is, start-up reads the controller's
    /// id (RDID4, 0xD3) and refuses a panel that does not answer; when not, the display reports
    /// <see cref="Devices.Status.DeviceState.Unverified"/> and <c>Devices:FaultCheck:AcceptUnverifiedDisplay</c> decides.
    /// </summary>
    public bool MisoWired { get; set; }

    /// <summary>Largest SPI transfer in bytes: at most spidev's bufsiz (4096 unless the kernel command line raises it).</summary>
    public int SpiBufferSize { get; set; } = 4096;

    /// <summary>The SPI settings the binding expects (mode 3, this bus, chip select and clock).</summary>
    public SpiConnectionSettings CreateSpiConnectionSettings() =>
        new(SpiBusId, SpiChipSelect) { ClockFrequency = SpiClockHz, Mode = SpiMode.Mode3, DataBitLength = 8 };
}

/// <summary>spidev's largest transfer: its <c>bufsiz</c> module parameter, 4096 bytes when the module does not say.</summary>
public static class SpidevBuffer
{
    /// <summary>Where the kernel publishes the limit.</summary>
    public const string ParameterPath = "/sys/module/spidev/parameters/bufsiz";

    /// <summary>spidev's default.</summary>
    public const int DefaultLimit = 4096;

    /// <summary>Reads the limit from <paramref name="path"/>; <see cref="DefaultLimit"/> when it is missing or unreadable.</summary>
    public static int ReadLimit(string path = ParameterPath)
    {
        try
        {
            return int.TryParse(File.ReadAllText(path).Trim(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var limit) && limit > 0
                ? limit
                : DefaultLimit;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return DefaultLimit;
        }
    }
}
