using System.Device.I2c;
using CardlessAtm.Devices.Keypad;

namespace CardlessAtm.Devices.RaspberryPi.Keypad;

/// <summary>A rectangle of the touch panel that acts as one key.</summary>
public sealed class TouchZoneOptions
{
    /// <summary>The key (0–9, Enter, Cancel, Clear, F1–F4).</summary>
    public string Key { get; set; } = string.Empty;

    /// <summary>Left edge in panel pixels.</summary>
    public int X { get; set; }

    /// <summary>Top edge in panel pixels.</summary>
    public int Y { get; set; }

    /// <summary>Width in pixels.</summary>
    public int Width { get; set; }

    /// <summary>Height in pixels.</summary>
    public int Height { get; set; }
}

/// <summary>Settings of a CHSC6440 touch panel used as a keypad; checked by <see cref="TouchKeypadOptionsValidator"/>.</summary>
public sealed class TouchKeypadOptions
{
    /// <summary>I2C bus (1 = the header's SDA1/SCL1).</summary>
    public int I2cBusId { get; set; } = 1;

    /// <summary>The controller's address (0x2E).</summary>
    public int I2cAddress { get; set; } = 0x2E;

    /// <summary>BCM pin of the controller's INT line (the binding only reports taps with it).</summary>
    public int InterruptPin { get; set; } = 26;

    /// <summary>Panel width in pixels (the display's).</summary>
    public int ScreenWidth { get; set; } = 320;

    /// <summary>Panel height in pixels.</summary>
    public int ScreenHeight { get; set; } = 240;

    /// <summary>Whether the touch layer is mounted rotated 180° against the display.</summary>
    public bool FlipScreen { get; set; }

    /// <summary>The on-screen buttons.</summary>
    public List<TouchZoneOptions> Zones { get; set; } = [];

    /// <summary>The on-screen buttons with their keys, from options <see cref="TouchKeypadOptionsValidator"/> accepted.</summary>
    public IReadOnlyList<(System.Drawing.Rectangle Area, AtmKey Key)> BuildZones() => TouchZones.Build(Zones);

    /// <summary>The I2C settings of the controller.</summary>
    public I2cConnectionSettings CreateI2cConnectionSettings() => new(I2cBusId, I2cAddress);
}
