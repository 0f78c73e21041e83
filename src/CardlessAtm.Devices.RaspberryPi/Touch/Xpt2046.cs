using System.Device.Spi;

namespace CardlessAtm.Devices.RaspberryPi.Touch;

/// <summary>The four inputs of the XPT2046 the touch driver converts (differential, 12-bit).</summary>
public enum Xpt2046Channel
{
    /// <summary>Y position (A2..A0 = 001, control byte 0x90).</summary>
    Y = 0b001,

    /// <summary>Pressure Z1 (A2..A0 = 011, control byte 0xB0).</summary>
    Z1 = 0b011,

    /// <summary>Pressure Z2 (A2..A0 = 100, control byte 0xC0).</summary>
    Z2 = 0b100,

    /// <summary>X position (A2..A0 = 101, control byte 0xD0).</summary>
    X = 0b101,
}

/// <summary>
/// The XPT2046 (ADS7843-compatible) resistive touch controller's conversion protocol on an <see cref="SpiDevice"/>: a
/// control byte <c>S A2 A1 A0 MODE SER/DFR PD1 PD0</c>, then two bytes that clock out the 12-bit result left-aligned
/// (shifted right by 3). Every conversion is differential and 12-bit.
/// </summary>
public sealed class Xpt2046 : IDisposable
{
    /// <summary>Largest SPI clock the chip allows (2.5 MHz at 2.7 V; datasheets give 2 MHz as typical).</summary>
    public const int MaxClockHz = 2_500_000;

    /// <summary>Largest conversion result.</summary>
    public const int MaxValue = 4095;

    private const byte Start = 0x80;
    private const byte AdcOnIrqOff = 0x01; // PD1 PD0 = 01: stay powered between conversions, PENIRQ disabled
    private readonly SpiDevice _spi;
    private readonly bool _ownsBus;
    private readonly byte[] _write = new byte[3];
    private readonly byte[] _read = new byte[3];

    /// <summary>Uses <paramref name="spi"/>, opened by the caller with the controller's own chip select and clock.</summary>
    /// <param name="spi">The bus.</param>
    /// <param name="ownsBus">Whether <see cref="Dispose"/> disposes <paramref name="spi"/>.</param>
    public Xpt2046(SpiDevice spi, bool ownsBus = true)
    {
        ArgumentNullException.ThrowIfNull(spi);
        _spi = spi;
        _ownsBus = ownsBus;
    }

    /// <summary>The control byte of a conversion.</summary>
    /// <param name="channel">The input.</param>
    /// <param name="powerDownAfter">True: power down after it, which re-enables PENIRQ (PD = 00); false: stay on for the next conversion, PENIRQ off (PD = 01).</param>
    public static byte ControlByte(Xpt2046Channel channel, bool powerDownAfter) =>
        (byte)(Start | ((int)channel << 4) | (powerDownAfter ? 0 : AdcOnIrqOff));

    /// <summary>Converts one input and returns its 12-bit value (0..4095).</summary>
    public int Convert(Xpt2046Channel channel, bool powerDownAfter)
    {
        _write[0] = ControlByte(channel, powerDownAfter);
        _spi.TransferFullDuplex(_write, _read);
        return ((_read[1] << 8) | _read[2]) >> 3;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_ownsBus)
        {
            _spi.Dispose();
        }
    }
}
