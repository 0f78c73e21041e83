using System.Device.Gpio;
using System.Device.Spi;
using System.Drawing;
using Iot.Device.Graphics;

namespace CardlessAtm.FirmwareSim.Gpio;

/// <summary>Which panel the emulator is: controller GRAM size and how the glass is mounted.</summary>
public enum Ili934xPanelModel
{
    /// <summary>ILI9341 on the common 2.4"/2.8" 240×320 modules: portrait GRAM, glass mirrored in X (so MADCTL MX gives an upright image).</summary>
    Ili9341,

    /// <summary>ILI9342C on 320×240 modules (e.g. M5Stack): landscape GRAM, IPS glass that needs inversion on for true colours.</summary>
    Ili9342,
}

/// <summary>
/// An ILI9341/ILI9342 panel on the virtual SPI bus: decodes the controller's command set as the
/// real chip does (the D/C line on the <see cref="VirtualGpioBoard"/> tells command from data) into
/// its GRAM, and shows what a viewer would see. Handles SWRESET, SLPIN/SLPOUT, DISPOFF/DISPON,
/// INVOFF/INVON, CASET, PASET, RAMWR, RAMWRC (memory write continue), MADCTL (MY/MX/MV/BGR) and
/// COLMOD (16 and 18 bits per pixel); other commands are accepted and their parameters kept.
/// Counts every byte so tests can measure how much a driver sends.
/// </summary>
public sealed class Ili934xPanelEmulator : SpiDevice
{
    private const byte SoftwareReset = 0x01;
    private const byte SleepIn = 0x10;
    private const byte SleepOut = 0x11;
    private const byte InversionOff = 0x20;
    private const byte InversionOn = 0x21;
    private const byte DisplayOff = 0x28;
    private const byte DisplayOn = 0x29;
    private const byte ColumnAddressSet = 0x2A;
    private const byte PageAddressSet = 0x2B;
    private const byte MemoryWrite = 0x2C;
    private const byte MemoryAccessControl = 0x36;
    private const byte PixelFormatSet = 0x3A;
    private const byte MemoryWriteContinue = 0x3C;
    private const byte ReadId4 = 0xD3;

    private readonly Lock _gate = new();
    private readonly VirtualGpioBoard _board;
    private readonly int _dataCommandPin;
    private readonly int _resetPin;
    private readonly ushort[] _gram;
    private readonly bool _glassMirroredX;
    private readonly bool _glassInverted;
    private readonly List<byte> _parameters = [];
    private readonly Dictionary<byte, int> _commandCounts = [];
    private readonly List<string> _protocolErrors = [];
    private readonly Dictionary<byte, byte[]> _lastParameters = [];
    private readonly byte[] _pixelBytes = new byte[3];

    private byte? _command;
    private int _pixelByteCount;
    private bool _sleeping;
    private bool _displayOn;
    private bool _inverted;
    private byte _madctl;
    private byte _colmod;
    private int _columnStart;
    private int _columnEnd;
    private int _pageStart;
    private int _pageEnd;
    private int _column;
    private int _page;
    private long _bytesWritten;
    private long _commandBytes;
    private long _dataBytes;
    private long _pixelsWritten;

    /// <summary>Connects a panel to the virtual SPI bus and to the board's D/C (and optional RESET) lines.</summary>
    /// <param name="board">The board whose lines carry D/C and RESET.</param>
    /// <param name="dataCommandPin">BCM pin of the D/C line (Low = command, High = data).</param>
    /// <param name="resetPin">BCM pin of the RESET line (active Low), or -1 when not wired.</param>
    /// <param name="model">Which controller and glass.</param>
    public Ili934xPanelEmulator(VirtualGpioBoard board, int dataCommandPin, int resetPin = -1, Ili934xPanelModel model = Ili934xPanelModel.Ili9341)
    {
        ArgumentNullException.ThrowIfNull(board);
        board.CheckPin(dataCommandPin);
        if (resetPin >= 0)
        {
            board.CheckPin(resetPin);
        }

        _board = board;
        _dataCommandPin = dataCommandPin;
        _resetPin = resetPin;
        Model = model;
        (NativeWidth, NativeHeight, _glassMirroredX, _glassInverted) = model switch
        {
            Ili934xPanelModel.Ili9341 => (240, 320, true, false),
            Ili934xPanelModel.Ili9342 => (320, 240, false, true),
            _ => throw new ArgumentOutOfRangeException(nameof(model), model, "Unknown panel model."),
        };
        _gram = new ushort[NativeWidth * NativeHeight];
        ResetRegisters();
        board.OutputWritten += OnOutputWritten;
    }

    /// <summary>The emulated controller.</summary>
    public Ili934xPanelModel Model { get; }

    /// <summary>GRAM width in pixels (the panel's native orientation).</summary>
    public int NativeWidth { get; }

    /// <summary>GRAM height in pixels.</summary>
    public int NativeHeight { get; }

    /// <inheritdoc />
    public override SpiConnectionSettings ConnectionSettings { get; } = new(0, 0) { ClockFrequency = 12_000_000, Mode = SpiMode.Mode3 };

    /// <summary>Whether the panel is out of sleep and its display is on (otherwise the glass is dark).</summary>
    public bool IsShowing
    {
        get
        {
            lock (_gate)
            {
                return !_sleeping && _displayOn;
            }
        }
    }

    /// <summary>Bytes received on MOSI since the last <see cref="ResetCounters"/>.</summary>
    public long BytesWritten => Interlocked.Read(ref _bytesWritten);

    /// <summary>Command bytes (D/C Low) since the last <see cref="ResetCounters"/>.</summary>
    public long CommandBytes => Interlocked.Read(ref _commandBytes);

    /// <summary>Parameter and pixel bytes (D/C High) since the last <see cref="ResetCounters"/>.</summary>
    public long DataBytes => Interlocked.Read(ref _dataBytes);

    /// <summary>Pixels stored into GRAM since the last <see cref="ResetCounters"/>.</summary>
    public long PixelsWritten => Interlocked.Read(ref _pixelsWritten);

    /// <summary>Things the real controller would not accept or would do something surprising with (e.g. SC &gt; EC).</summary>
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

    /// <summary>How many times a command byte was received since the last <see cref="ResetCounters"/>.</summary>
    public int CountOf(byte command)
    {
        lock (_gate)
        {
            return _commandCounts.GetValueOrDefault(command);
        }
    }

    /// <summary>The parameters last sent with <paramref name="command"/>, or null if it was never sent.</summary>
    public byte[]? LastParametersOf(byte command)
    {
        lock (_gate)
        {
            return _lastParameters.TryGetValue(command, out var p) ? [.. p] : null;
        }
    }

    /// <summary>Zeroes the byte, pixel and command counters (not the protocol errors).</summary>
    public void ResetCounters()
    {
        lock (_gate)
        {
            _bytesWritten = 0;
            _commandBytes = 0;
            _dataBytes = 0;
            _pixelsWritten = 0;
            _commandCounts.Clear();
        }
    }

    /// <summary>The visible picture as the viewer sees it (width × height of the glass, row-major RGB565), black while asleep or off.</summary>
    public (int Width, int Height, ushort[] Pixels) Snapshot()
    {
        lock (_gate)
        {
            var pixels = new ushort[_gram.Length];
            if (_sleeping || !_displayOn)
            {
                return (NativeWidth, NativeHeight, pixels);
            }

            var bgrGlass = true;
            var swapRedBlue = ((_madctl & 0x08) != 0) != bgrGlass;
            var invert = _inverted != _glassInverted;
            for (var y = 0; y < NativeHeight; y++)
            {
                for (var x = 0; x < NativeWidth; x++)
                {
                    var gx = _glassMirroredX ? NativeWidth - 1 - x : x;
                    var value = _gram[(y * NativeWidth) + gx];
                    if (swapRedBlue)
                    {
                        value = (ushort)((value & 0x07E0) | (value >> 11) | ((value & 0x1F) << 11));
                    }

                    if (invert)
                    {
                        value = (ushort)~value;
                    }

                    pixels[(y * NativeWidth) + x] = value;
                }
            }

            return (NativeWidth, NativeHeight, pixels);
        }
    }

    /// <summary>The visible colour of the viewer's pixel (x, y).</summary>
    public Color ColorAt(int x, int y)
    {
        var (width, height, pixels) = Snapshot();
        if ((uint)x >= (uint)width || (uint)y >= (uint)height)
        {
            throw new ArgumentOutOfRangeException(nameof(x), $"({x},{y}) is outside the {width}×{height} panel.");
        }

        return ToColor(pixels[(y * width) + x]);
    }

    /// <summary>
    /// The visible picture as a <see cref="BitmapImage"/> made by the registered image factory
    /// (<see cref="BitmapImage.RegisterImageFactory"/>; CardlessAtm.Devices.RaspberryPi provides a managed one).
    /// </summary>
    public BitmapImage ToBitmapImage()
    {
        var (width, height, pixels) = Snapshot();
        var image = BitmapImage.CreateBitmap(width, height, PixelFormat.Format32bppArgb);
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                image.SetPixel(x, y, ToColor(pixels[(y * width) + x]));
            }
        }

        return image;
    }

    /// <summary>Saves the visible picture as a PNG file (needs a registered image factory, see <see cref="ToBitmapImage"/>).</summary>
    public void SaveAsPng(string path)
    {
        using var image = ToBitmapImage();
        using var file = File.Create(path);
        image.SaveToStream(file, ImageFileType.Png);
    }

    /// <summary>An RGB565 value as a colour (5/6-bit channels expanded to 8 bits).</summary>
    public static Color ToColor(ushort rgb565)
    {
        var r = (rgb565 >> 11) & 0x1F;
        var g = (rgb565 >> 5) & 0x3F;
        var b = rgb565 & 0x1F;
        return Color.FromArgb(255, (r << 3) | (r >> 2), (g << 2) | (g >> 4), (b << 3) | (b >> 2));
    }

    /// <inheritdoc />
    public override void Write(ReadOnlySpan<byte> buffer)
    {
        var isData = _board.LevelOf(_dataCommandPin) == PinValue.High;
        lock (_gate)
        {
            _bytesWritten += buffer.Length;
            if (isData)
            {
                _dataBytes += buffer.Length;
                foreach (var b in buffer)
                {
                    OnData(b);
                }
            }
            else
            {
                _commandBytes += buffer.Length;
                foreach (var b in buffer)
                {
                    OnCommand(b);
                }
            }
        }
    }

    /// <inheritdoc />
    public override void WriteByte(byte value) => Write([value]);

    /// <summary>
    /// Whether the panel's SDO is wired to the bus's MISO. When it is, a full-duplex RDID4 (0xD3 with D/C low) answers
    /// as the chip does: the byte clocked with the command, a dummy byte, then 0x00, 0x93 and 0x41 (ILI9341) or 0x42 (ILI9342).
    /// </summary>
    public bool MisoWired { get; init; }

    /// <summary>MISO is not wired on these modules' usual hookup; reads return zeros.</summary>
    public override void Read(Span<byte> buffer) => buffer.Clear();

    /// <inheritdoc cref="Read(Span{byte})" />
    public override byte ReadByte() => 0;

    /// <inheritdoc />
    public override void TransferFullDuplex(ReadOnlySpan<byte> writeBuffer, Span<byte> readBuffer)
    {
        readBuffer.Clear();
        if (MisoWired && writeBuffer.Length > 0 && writeBuffer[0] == ReadId4 && _board.LevelOf(_dataCommandPin) == PinValue.Low)
        {
            lock (_gate)
            {
                _bytesWritten += writeBuffer.Length;
                _commandBytes++;
                FinishCommand();
                _commandCounts[ReadId4] = _commandCounts.GetValueOrDefault(ReadId4) + 1;
                _command = null;
                _parameters.Clear();
            }

            ReadOnlySpan<byte> id = [0x00, 0x93, Model == Ili934xPanelModel.Ili9342 ? (byte)0x42 : (byte)0x41];
            for (var i = 2; i < readBuffer.Length && i - 2 < id.Length; i++)
            {
                readBuffer[i] = id[i - 2];
            }

            return;
        }

        Write(writeBuffer);
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _board.OutputWritten -= OnOutputWritten;
        }

        base.Dispose(disposing);
    }

    private void OnOutputWritten(object? sender, PinWrittenEventArgs e)
    {
        if (e.Pin == _resetPin && e.Value == PinValue.Low)
        {
            lock (_gate)
            {
                ResetRegisters();
            }
        }
    }

    private void ResetRegisters()
    {
        // Power-on / reset defaults from the ILI9341 datasheet: sleep in, display off, 18 bpp, full window.
        _command = null;
        _parameters.Clear();
        _pixelByteCount = 0;
        _sleeping = true;
        _displayOn = false;
        _inverted = false;
        _madctl = 0;
        _colmod = 0x66;
        _columnStart = 0;
        _pageStart = 0;
        _columnEnd = NativeWidth - 1;
        _pageEnd = NativeHeight - 1;
    }

    private (int Columns, int Pages) LogicalSize() =>
        (_madctl & 0x20) != 0 ? (NativeHeight, NativeWidth) : (NativeWidth, NativeHeight);

    private void OnCommand(byte command)
    {
        FinishCommand();
        _commandCounts[command] = _commandCounts.GetValueOrDefault(command) + 1;
        _command = command;
        _parameters.Clear();
        switch (command)
        {
            case SoftwareReset:
                ResetRegisters();
                break;
            case SleepIn:
                _sleeping = true;
                break;
            case SleepOut:
                _sleeping = false;
                break;
            case InversionOff:
                _inverted = false;
                break;
            case InversionOn:
                _inverted = true;
                break;
            case DisplayOff:
                _displayOn = false;
                break;
            case DisplayOn:
                _displayOn = true;
                break;
            case MemoryWrite:
                _column = _columnStart;
                _page = _pageStart;
                _pixelByteCount = 0;
                break;
            case MemoryWriteContinue:
                _pixelByteCount = 0;
                break;
        }
    }

    private void OnData(byte value)
    {
        switch (_command)
        {
            case null:
                _protocolErrors.Add($"Data byte 0x{value:X2} with no command before it.");
                return;
            case MemoryWrite or MemoryWriteContinue:
                OnPixelByte(value);
                return;
            default:
                _parameters.Add(value);
                _lastParameters[_command.Value] = [.. _parameters];
                ApplyParameters();
                return;
        }
    }

    private void ApplyParameters()
    {
        switch (_command)
        {
            case ColumnAddressSet when _parameters.Count == 4:
                SetAddressRange(isColumn: true);
                break;
            case PageAddressSet when _parameters.Count == 4:
                SetAddressRange(isColumn: false);
                break;
            case MemoryAccessControl when _parameters.Count == 1:
                _madctl = _parameters[0];
                break;
            case PixelFormatSet when _parameters.Count == 1:
                var mcuFormat = _parameters[0] & 0x07;
                if (mcuFormat is not (5 or 6))
                {
                    _protocolErrors.Add($"COLMOD 0x{_parameters[0]:X2}: MCU pixel format {mcuFormat} is reserved; keeping 0x{_colmod:X2}.");
                }
                else
                {
                    _colmod = _parameters[0];
                }

                break;
        }
    }

    private void SetAddressRange(bool isColumn)
    {
        var start = (_parameters[0] << 8) | _parameters[1];
        var end = (_parameters[2] << 8) | _parameters[3];
        var name = isColumn ? "CASET" : "PASET";
        var (columns, pages) = LogicalSize();
        var limit = (isColumn ? columns : pages) - 1;
        if (start > end || start > limit)
        {
            _protocolErrors.Add($"{name} {start}..{end} is invalid (start must be ≤ end and ≤ {limit}); ignored.");
            return;
        }

        // The binding addresses the full frame as 0..width (one past the last column); the chip
        // stops at the last real address, so an end beyond the panel is clamped, as on the glass.
        end = Math.Min(end, limit);
        if (isColumn)
        {
            (_columnStart, _columnEnd) = (start, end);
        }
        else
        {
            (_pageStart, _pageEnd) = (start, end);
        }
    }

    private void OnPixelByte(byte value)
    {
        var bytesPerPixel = (_colmod & 0x07) == 6 ? 3 : 2;
        _pixelBytes[_pixelByteCount++] = value;
        if (_pixelByteCount < bytesPerPixel)
        {
            return;
        }

        _pixelByteCount = 0;
        var rgb565 = bytesPerPixel == 2
            ? (ushort)((_pixelBytes[0] << 8) | _pixelBytes[1])
            : (ushort)(((_pixelBytes[0] >> 3) << 11) | ((_pixelBytes[1] >> 2) << 5) | (_pixelBytes[2] >> 3));
        StorePixel(rgb565);
    }

    private void StorePixel(ushort rgb565)
    {
        var (columns, pages) = LogicalSize();
        int x, y;
        if ((_madctl & 0x20) != 0)
        {
            (x, y) = (_page, _column);
        }
        else
        {
            (x, y) = (_column, _page);
        }

        if ((_madctl & 0x40) != 0)
        {
            x = NativeWidth - 1 - x;
        }

        if ((_madctl & 0x80) != 0)
        {
            y = NativeHeight - 1 - y;
        }

        if ((uint)x < (uint)NativeWidth && (uint)y < (uint)NativeHeight && _column < columns && _page < pages)
        {
            _gram[(y * NativeWidth) + x] = rgb565;
        }

        _pixelsWritten++;

        // The address counter runs along the window and wraps to its start, as on the chip.
        if (++_column > _columnEnd)
        {
            _column = _columnStart;
            if (++_page > _pageEnd)
            {
                _page = _pageStart;
            }
        }
    }

    private void FinishCommand()
    {
        if (_command is { } command && _command is not (MemoryWrite or MemoryWriteContinue))
        {
            var expected = command switch
            {
                ColumnAddressSet or PageAddressSet => 4,
                MemoryAccessControl or PixelFormatSet => 1,
                _ => -1,
            };
            if (expected >= 0 && _parameters.Count != expected)
            {
                _protocolErrors.Add($"Command 0x{command:X2} got {_parameters.Count} parameter bytes, expected {expected}.");
            }
        }
        else if (_command is MemoryWrite or MemoryWriteContinue && _pixelByteCount != 0)
        {
            _protocolErrors.Add($"Memory write ended in the middle of a pixel ({_pixelByteCount} byte(s) left over).");
            _pixelByteCount = 0;
        }
    }
}
