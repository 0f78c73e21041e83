using System.Device.Gpio;
using System.Device.Spi;

namespace CardlessAtm.FirmwareSim.Gpio;

/// <summary>How the emulated touch layer lies on the screen: the raw readings at the edges, and its rotation.</summary>
/// <param name="ScreenWidth">Screen width in pixels.</param>
/// <param name="ScreenHeight">Screen height in pixels.</param>
/// <param name="RawXMin">X-channel reading at the edge where the (unswapped, uninverted) screen coordinate is 0.</param>
/// <param name="RawXMax">X-channel reading at the opposite edge.</param>
/// <param name="RawYMin">Y-channel reading at the edge where the coordinate is 0.</param>
/// <param name="RawYMax">Y-channel reading at the opposite edge.</param>
/// <param name="SwapXY">The X channel runs along the screen's height.</param>
/// <param name="InvertX">The screen's X grows as the (swapped) X reading falls.</param>
/// <param name="InvertY">The screen's Y grows as the (swapped) Y reading falls.</param>
public sealed record Xpt2046PanelGeometry(
    int ScreenWidth = 320, int ScreenHeight = 240, int RawXMin = 200, int RawXMax = 3900, int RawYMin = 200, int RawYMax = 3900,
    bool SwapXY = false, bool InvertX = false, bool InvertY = false);

/// <summary>
/// An XPT2046 resistive touch controller on the virtual SPI bus, with its own chip select (CE1 by default, beside the
/// TFT's CE0) and its PENIRQ output on the <see cref="VirtualGpioBoard"/>: Low while the panel is pressed and the chip
/// is powered down with the pen interrupt enabled (PD = 00), High otherwise. Every 3-byte transfer that starts with a
/// control byte (S = 1) converts the channel A2..A0 and clocks the 12-bit result out left-aligned in bytes 2–3.
/// Touches are given in screen pixels and turned into raw readings through <see cref="Xpt2046PanelGeometry"/>, written
/// here independently of the driver's calibration.
/// </summary>
public sealed class Xpt2046TouchEmulator : SpiDevice
{
    private readonly Lock _gate = new();
    private readonly SimulatedSwitch _penIrq;
    private readonly Xpt2046PanelGeometry _geometry;
    private readonly Random _noise;
    private (int X, int Y, int Pressure)? _touch;
    private bool _irqEnabled = true;
    private bool _penIrqWired = true;
    private int _jitter;
    private int _spikeEvery;
    private long _positionConversions;
    private long _conversions;

    /// <summary>Wires PENIRQ to <paramref name="penIrqPin"/> on <paramref name="board"/>.</summary>
    /// <param name="board">The virtual board.</param>
    /// <param name="penIrqPin">BCM pin of T_IRQ.</param>
    /// <param name="geometry">The panel's raw ranges and rotation; the defaults if null.</param>
    /// <param name="busId">SPI bus.</param>
    /// <param name="chipSelect">Chip select (the TFT has 0).</param>
    /// <param name="noiseSeed">Seed of the jitter generator (tests repeat exactly).</param>
    public Xpt2046TouchEmulator(VirtualGpioBoard board, int penIrqPin, Xpt2046PanelGeometry? geometry = null, int busId = 0, int chipSelect = 1, int noiseSeed = 2046)
    {
        ArgumentNullException.ThrowIfNull(board);
        _geometry = geometry ?? new Xpt2046PanelGeometry();
        _penIrq = board.AddSwitch("XPT2046 PENIRQ", penIrqPin, PinValue.Low, closed: false);
        _noise = new Random(noiseSeed);
        ConnectionSettings = new SpiConnectionSettings(busId, chipSelect) { ClockFrequency = 2_000_000, Mode = SpiMode.Mode0 };
    }

    /// <inheritdoc />
    public override SpiConnectionSettings ConnectionSettings { get; }

    /// <summary>Conversions done since start.</summary>
    public long Conversions => Interlocked.Read(ref _conversions);

    /// <summary>Presses the panel at (x, y) screen pixels with <paramref name="pressure"/> (Z1 + 4095 − Z2; light contact is below ~400).</summary>
    public void Touch(int x, int y, int pressure = 1200)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(x);
        ArgumentOutOfRangeException.ThrowIfNegative(y);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(x, _geometry.ScreenWidth);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(y, _geometry.ScreenHeight);
        ArgumentOutOfRangeException.ThrowIfNegative(pressure);
        lock (_gate)
        {
            _touch = (x, y, Math.Min(pressure, 8190));
        }

        UpdatePenIrq();
    }

    /// <summary>Lifts the pen.</summary>
    public void Release()
    {
        lock (_gate)
        {
            _touch = null;
        }

        UpdatePenIrq();
    }

    /// <summary>Each X/Y conversion is off by up to ± <paramref name="amplitude"/> raw units (a noisy panel).</summary>
    public void SetJitter(int amplitude)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(amplitude);
        lock (_gate)
        {
            _jitter = amplitude;
        }
    }

    /// <summary>Every <paramref name="nth"/> X/Y conversion reads 0, a spike on the line (0 turns spikes off).</summary>
    public void SetSpikes(int nth)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(nth);
        lock (_gate)
        {
            _spikeEvery = nth;
        }
    }

    /// <summary>Cuts (false) or mends (true) the PENIRQ wire: cut, the line stays High whatever the panel does.</summary>
    public void SetPenIrqWired(bool wired)
    {
        lock (_gate)
        {
            _penIrqWired = wired;
        }

        UpdatePenIrq();
    }

    /// <inheritdoc />
    public override void TransferFullDuplex(ReadOnlySpan<byte> writeBuffer, Span<byte> readBuffer)
    {
        readBuffer.Clear();
        for (var i = 0; i + 2 < writeBuffer.Length && i + 2 < readBuffer.Length; i += 3)
        {
            var control = writeBuffer[i];
            if ((control & 0x80) == 0)
            {
                continue;
            }

            var value = Convert((control >> 4) & 0x07) << 3;
            readBuffer[i + 1] = (byte)(value >> 8);
            readBuffer[i + 2] = (byte)value;
            lock (_gate)
            {
                _irqEnabled = (control & 0x03) == 0;
            }

            UpdatePenIrq();
        }
    }

    /// <inheritdoc />
    public override void Write(ReadOnlySpan<byte> buffer) => TransferFullDuplex(buffer, new byte[buffer.Length]);

    /// <inheritdoc />
    public override void WriteByte(byte value) => Write([value]);

    /// <inheritdoc />
    public override void Read(Span<byte> buffer) => buffer.Clear();

    /// <inheritdoc />
    public override byte ReadByte() => 0;

    private int Convert(int channel)
    {
        Interlocked.Increment(ref _conversions);
        lock (_gate)
        {
            if (_touch is not { } touch)
            {
                return channel switch { 0b100 => 4095, _ => 0 }; // no contact: Z2 at full scale, the rest floating low
            }

            var (rawX, rawY) = Raw(touch.X, touch.Y);
            return channel switch
            {
                0b101 => Noisy(rawX),
                0b001 => Noisy(rawY),
                0b011 => touch.Pressure / 2,
                0b100 => 4095 - (touch.Pressure - (touch.Pressure / 2)),
                _ => 0,
            };
        }
    }

    private (int X, int Y) Raw(int x, int y)
    {
        var g = _geometry;
        var u = x / (double)(g.ScreenWidth - 1);
        var v = y / (double)(g.ScreenHeight - 1);
        u = g.InvertX ? 1 - u : u;
        v = g.InvertY ? 1 - v : v;
        if (g.SwapXY)
        {
            (u, v) = (v, u);
        }

        return ((int)Math.Round(g.RawXMin + (u * (g.RawXMax - g.RawXMin))), (int)Math.Round(g.RawYMin + (v * (g.RawYMax - g.RawYMin))));
    }

    private int Noisy(int value)
    {
        if (_spikeEvery > 0 && ++_positionConversions % _spikeEvery == 0)
        {
            return 0;
        }

        return Math.Clamp(value + (_jitter == 0 ? 0 : _noise.Next(-_jitter, _jitter + 1)), 0, 4095);
    }

    private void UpdatePenIrq()
    {
        bool low;
        lock (_gate)
        {
            low = _penIrqWired && _irqEnabled && _touch is not null;
        }

        if (_penIrq.IsClosed != low)
        {
            _penIrq.Set(low);
        }
    }
}
