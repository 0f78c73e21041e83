using System.Device.I2c;
using System.Text;

namespace CardlessAtm.FirmwareSim.Gpio;

/// <summary>
/// A 20×4 (or other size) HD44780 character LCD behind a PCF8574 I2C backpack, as an
/// <see cref="I2cDevice"/>. The expander's pins are the usual backpack wiring: P0 = RS, P1 = RW,
/// P2 = E, P3 = backlight, P4–P7 = D4–D7. The controller latches a nibble on each falling edge of
/// E, starts in 8-bit mode as after power-on, and follows function set, clear, home, entry mode,
/// display control, cursor shift and DDRAM/CGRAM address commands; the DDRAM row offsets are
/// those of a 4-line module (0x00, 0x40, 0x14, 0x54).
/// </summary>
public sealed class Hd44780Pcf8574Emulator : I2cDevice
{
    private readonly Lock _gate = new();
    private readonly byte[] _ddram = new byte[0x80];
    private readonly byte[] _cgram = new byte[64];
    private readonly List<string> _protocolErrors = [];
    private byte _port = 0xFF;
    private bool _fourBitMode;
    private byte? _highNibble;
    private int _address;
    private bool _addressIsCgram;
    private bool _increment = true;
    private long _bytesWritten;

    /// <summary>Creates a module of <paramref name="columns"/> × <paramref name="rows"/> characters at the given I2C address.</summary>
    public Hd44780Pcf8574Emulator(int columns = 20, int rows = 4, int address = 0x27, int busId = 1)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(columns);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rows);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(rows, 4);
        Columns = columns;
        Rows = rows;
        ConnectionSettings = new I2cConnectionSettings(busId, address);
        Array.Fill(_ddram, (byte)' ');
    }

    /// <summary>Characters per line.</summary>
    public int Columns { get; }

    /// <summary>Lines.</summary>
    public int Rows { get; }

    /// <inheritdoc />
    public override I2cConnectionSettings ConnectionSettings { get; }

    /// <summary>Whether the display is switched on (display control D bit).</summary>
    public bool DisplayOn { get; private set; }

    /// <summary>Whether the backpack's backlight transistor is on (P3 of the last byte written).</summary>
    public bool BacklightOn
    {
        get
        {
            lock (_gate)
            {
                return (_port & 0x08) != 0;
            }
        }
    }

    /// <summary>Whether the controller is in 4-bit interface mode.</summary>
    public bool FourBitMode
    {
        get
        {
            lock (_gate)
            {
                return _fourBitMode;
            }
        }
    }

    /// <summary>Bytes written to the expander (each is one I2C data byte).</summary>
    public long BytesWritten => Interlocked.Read(ref _bytesWritten);

    /// <summary>Sequences the real controller would misread (e.g. data before 4-bit mode was set).</summary>
    public IReadOnlyList<string> ProtocolErrors
    {
        get
        {
            lock (_gate)
            {
                return [.. _protocolErrors];
            }
        }
    }

    /// <summary>The text of line <paramref name="row"/> as the glass shows it (DDRAM from the row's offset).</summary>
    public string Line(int row)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(row);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(row, Rows);
        int[] offsets = [0x00, 0x40, Columns, 0x40 + Columns];
        var text = new StringBuilder(Columns);
        lock (_gate)
        {
            for (var i = 0; i < Columns; i++)
            {
                var code = _ddram[(offsets[row] + i) & 0x7F];
                text.Append(code is >= 0x20 and < 0x7F ? (char)code : '?');
            }
        }

        return text.ToString();
    }

    /// <summary>All lines.</summary>
    public IReadOnlyList<string> Lines() => [.. Enumerable.Range(0, Rows).Select(Line)];

    /// <inheritdoc />
    public override void Write(ReadOnlySpan<byte> buffer)
    {
        foreach (var b in buffer)
        {
            WriteByte(b);
        }
    }

    /// <inheritdoc />
    public override void WriteByte(byte value)
    {
        Interlocked.Increment(ref _bytesWritten);
        lock (_gate)
        {
            var enableWasHigh = (_port & 0x04) != 0;
            var latched = _port;
            _port = value;
            if (enableWasHigh && (value & 0x04) == 0)
            {
                // Falling edge of E: the controller samples RS, RW and D4–D7 as they were while E was high.
                Latch(latched);
            }
        }
    }

    /// <summary>Reading back (busy flag) is not used by the backpack driver; the expander's port reads as written.</summary>
    public override byte ReadByte()
    {
        lock (_gate)
        {
            return _port;
        }
    }

    /// <inheritdoc />
    public override void Read(Span<byte> buffer) => buffer.Fill(ReadByte());

    /// <inheritdoc />
    public override void WriteRead(ReadOnlySpan<byte> writeBuffer, Span<byte> readBuffer)
    {
        Write(writeBuffer);
        Read(readBuffer);
    }

    private void Latch(byte port)
    {
        var registerSelect = (port & 0x01) != 0;
        if ((port & 0x02) != 0)
        {
            _protocolErrors.Add("Read cycle (RW high) latched; the emulator does not drive the data lines.");
            return;
        }

        var nibble = (byte)(port & 0xF0);
        if (!_fourBitMode)
        {
            // 8-bit mode on a 4-bit bus: D0–D3 read as 0.
            Execute(registerSelect, nibble);
            return;
        }

        if (_highNibble is not { } high)
        {
            _highNibble = nibble;
            return;
        }

        _highNibble = null;
        Execute(registerSelect, (byte)(high | (nibble >> 4)));
    }

    private void Execute(bool isData, byte value)
    {
        if (isData)
        {
            if (_addressIsCgram)
            {
                _cgram[_address & 0x3F] = value;
                _address = (_address + (_increment ? 1 : -1)) & 0x3F;
            }
            else
            {
                _ddram[_address & 0x7F] = value;
                _address = (_address + (_increment ? 1 : -1)) & 0x7F;
            }

            return;
        }

        if ((value & 0x80) != 0)
        {
            _address = value & 0x7F;
            _addressIsCgram = false;
        }
        else if ((value & 0x40) != 0)
        {
            _address = value & 0x3F;
            _addressIsCgram = true;
        }
        else if ((value & 0x20) != 0)
        {
            var eightBit = (value & 0x10) != 0;
            if (_fourBitMode != !eightBit)
            {
                _fourBitMode = !eightBit;
                _highNibble = null;
            }
        }
        else if ((value & 0x10) != 0)
        {
            // Cursor or display shift: the emulator keeps the text where DDRAM has it.
        }
        else if ((value & 0x08) != 0)
        {
            DisplayOn = (value & 0x04) != 0;
        }
        else if ((value & 0x04) != 0)
        {
            _increment = (value & 0x02) != 0;
        }
        else if ((value & 0x02) != 0)
        {
            _address = 0;
            _addressIsCgram = false;
        }
        else if (value == 0x01)
        {
            Array.Fill(_ddram, (byte)' ');
            _address = 0;
            _addressIsCgram = false;
            _increment = true;
        }
    }
}
