using System.Device.Gpio;
using System.Device.I2c;

namespace CardlessAtm.FirmwareSim.Gpio;

/// <summary>
/// A CHSC6440 capacitive touch controller on the virtual I2C bus, with its INT line on the
/// <see cref="VirtualGpioBoard"/> (pulled Low while a finger is down, as the chip does). Register
/// 0x02 onwards reads as the chip's report: number of points, then X/Y of up to two points
/// (12 bits each, high byte first).
/// </summary>
public sealed class Chsc6440TouchEmulator : I2cDevice
{
    private readonly Lock _gate = new();
    private readonly SimulatedSwitch _interrupt;
    private readonly List<(int X, int Y)> _points = [];
    private byte _register;
    private long _reads;
    private long _touchReads;

    /// <summary>Wires the controller's INT output to <paramref name="interruptPin"/> on <paramref name="board"/>.</summary>
    public Chsc6440TouchEmulator(VirtualGpioBoard board, int interruptPin, int address = 0x2E, int busId = 1)
    {
        ArgumentNullException.ThrowIfNull(board);
        _interrupt = board.AddSwitch("CHSC6440 INT", interruptPin, PinValue.Low, closed: false);
        ConnectionSettings = new I2cConnectionSettings(busId, address);
    }

    /// <inheritdoc />
    public override I2cConnectionSettings ConnectionSettings { get; }

    /// <summary>Whether the host sent the controller's start-up sequence (0x5A 0x5A).</summary>
    public bool Initialised { get; private set; }

    /// <summary>Reports read while at least one finger was down.</summary>
    public long TouchReads => Interlocked.Read(ref _touchReads);

    /// <summary>All report reads.</summary>
    public long Reads => Interlocked.Read(ref _reads);

    /// <summary>Puts a finger down at (x, y) in panel pixels.</summary>
    public void Touch(int x, int y)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(x);
        ArgumentOutOfRangeException.ThrowIfNegative(y);
        lock (_gate)
        {
            _points.Clear();
            _points.Add((x, y));
        }

        _interrupt.Set(true);
    }

    /// <summary>Lifts every finger.</summary>
    public void Release()
    {
        lock (_gate)
        {
            _points.Clear();
        }

        _interrupt.Set(false);
    }

    /// <summary>Waits (real time: the binding polls on its own thread) until <paramref name="count"/> more reports have been read.</summary>
    /// <exception cref="TimeoutException">The host did not read in time.</exception>
    public void WaitForReads(int count, TimeSpan timeout, bool whileTouched = false)
    {
        var start = whileTouched ? TouchReads : Reads;
        var deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        while ((whileTouched ? TouchReads : Reads) < start + count)
        {
            if (Environment.TickCount64 > deadline)
            {
                throw new TimeoutException($"The touch controller was not read {count} more time(s) within {timeout.TotalMilliseconds} ms.");
            }

            Thread.Sleep(1);
        }
    }

    /// <inheritdoc />
    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (buffer.Length == 2 && buffer[0] == 0x5A && buffer[1] == 0x5A)
        {
            Initialised = true;
            return;
        }

        if (buffer.Length > 0)
        {
            _register = buffer[0];
        }
    }

    /// <inheritdoc />
    public override void WriteByte(byte value) => _register = value;

    /// <inheritdoc />
    public override void Read(Span<byte> buffer)
    {
        buffer.Clear();
        Interlocked.Increment(ref _reads);
        if (_register != 0x02 || buffer.Length == 0)
        {
            return;
        }

        lock (_gate)
        {
            if (_points.Count > 0)
            {
                Interlocked.Increment(ref _touchReads);
            }

            buffer[0] = (byte)_points.Count;
            for (var i = 0; i < _points.Count && i < 2; i++)
            {
                var at = 1 + (i * 6);
                if (buffer.Length >= at + 4)
                {
                    buffer[at] = (byte)(_points[i].X >> 8);
                    buffer[at + 1] = (byte)_points[i].X;
                    buffer[at + 2] = (byte)(_points[i].Y >> 8);
                    buffer[at + 3] = (byte)_points[i].Y;
                }
            }
        }
    }

    /// <inheritdoc />
    public override byte ReadByte()
    {
        Span<byte> one = stackalloc byte[1];
        Read(one);
        return one[0];
    }

    /// <inheritdoc />
    public override void WriteRead(ReadOnlySpan<byte> writeBuffer, Span<byte> readBuffer)
    {
        Write(writeBuffer);
        Read(readBuffer);
    }
}
