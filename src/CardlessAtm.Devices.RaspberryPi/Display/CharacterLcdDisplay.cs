using System.Device.I2c;
using CardlessAtm.Devices.Display;
using CardlessAtm.Devices.Status;
using Iot.Device.CharacterLcd;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CardlessAtm.Devices.RaspberryPi.Display;

/// <summary>
/// A text-only HD44780 character LCD (20×4 or 16×2) on a PCF8574 I2C backpack, through
/// Iot.Device.Bindings' <see cref="Lcd2004"/>/<see cref="Lcd1602"/> in 4-bit mode. Row 0 shows the
/// title, the other rows the body lines, and the countdown sits at the right end of the last row.
/// Only the characters that changed are rewritten. It cannot show a QR code: a screen with one is
/// refused with <see cref="QrNotSupportedException"/>, and a configuration where it is the only
/// display is refused at start-up (<see cref="RaspberryPiDisplayOptionsValidator"/>).
/// </summary>
public sealed class CharacterLcdDisplay : IDisplay, IDisposable
{
    private readonly Hd44780 _lcd;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly char[][] _shown;
    private readonly int _columns;
    private readonly int _rows;
    private bool _shownIsKnown = true;
    private bool _disposed;

    /// <summary>Initialises the LCD on an opened I2C device (the backpack's address); the display takes ownership of it.</summary>
    /// <exception cref="ConfigurationException">A setting is invalid.</exception>
    public CharacterLcdDisplay(I2cDevice i2cDevice, CharacterLcdOptions options, ILogger<CharacterLcdDisplay>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(i2cDevice);
        ArgumentNullException.ThrowIfNull(options);
        new CharacterLcdOptionsValidator(nameof(CharacterLcdOptions)).ThrowIfInvalid(options);
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _columns = options.Columns;
        _rows = options.Rows;
        var bus = LcdInterface.CreateI2c(i2cDevice, uses8Bit: false);
        _lcd = _rows == 4 ? new Lcd2004(bus) : new Lcd1602(bus);
        _lcd.BacklightOn = true;
        _lcd.DisplayOn = true;
        _lcd.Clear();
        _shown = [.. Enumerable.Range(0, _rows).Select(_ => Enumerable.Repeat(' ', _columns).ToArray())];
        var name = $"HD44780 {_columns}x{_rows}";
        Capabilities = new DisplayCapabilities(name, 0, 0, _columns, _rows, CanShowQr: false);
        Status = new DisplayStatus(name) { Device = DeviceState.Online };
    }

    /// <inheritdoc />
    public DisplayCapabilities Capabilities { get; }

    /// <inheritdoc />
    public DisplayStatus Status { get; }

    /// <summary>Characters written by the last <see cref="ShowAsync"/>.</summary>
    public int LastUpdateCharacters { get; private set; }

    /// <inheritdoc />
    /// <exception cref="QrNotSupportedException">The screen carries a QR code.</exception>
    public async Task ShowAsync(Screen screen, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(screen);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (screen.Qr is not null)
        {
            throw new QrNotSupportedException(Capabilities.Name);
        }

        await _gate.WaitAsync(cancellationToken);
        try
        {
            var next = Compose(screen);
            try
            {
                LastUpdateCharacters = Send(next);
                _shownIsKnown = true;
                Status.Device = DeviceState.Online;
            }
            catch (Exception ex) when (ex is IOException or InvalidOperationException or UnauthorizedAccessException)
            {
                _shownIsKnown = false;
                Status.Device = DeviceState.HardwareError;
                _logger.LogError(ex, "Display {Display}: I2C write failed; marked in hardware error, the next screen is written in full", Capabilities.Name);
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Releases the LCD and its I2C device.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _lcd.Dispose();
        _gate.Dispose();
    }

    private char[][] Compose(Screen screen)
    {
        var rows = new char[_rows][];
        for (var r = 0; r < _rows; r++)
        {
            rows[r] = Enumerable.Repeat(' ', _columns).ToArray();
        }

        Put(rows[0], 0, screen.Title, "title");
        for (var i = 0; i < screen.Lines.Count; i++)
        {
            if (i + 1 >= _rows)
            {
                _logger.LogWarning("Display {Display}: screen '{Title}' has {Lines} lines; only {Rows} fit, the rest are not shown", Capabilities.Name, screen.Title, screen.Lines.Count, _rows - 1);
                break;
            }

            Put(rows[i + 1], 0, screen.Lines[i], $"line {i + 1}");
        }

        if (screen.SecondsLeft is { } seconds)
        {
            var countdown = $" {Math.Max(0, seconds)}s";
            Put(rows[_rows - 1], _columns - countdown.Length, countdown, "countdown");
        }

        return rows;
    }

    private void Put(char[] row, int column, string text, string what)
    {
        var room = row.Length - column;
        if (text.Length > room)
        {
            _logger.LogWarning("Display {Display}: {What} '{Text}' is {Length} characters; {Room} fit, the rest is cut", Capabilities.Name, what, text, text.Length, room);
            text = text[..room];
        }

        for (var i = 0; i < text.Length; i++)
        {
            // The HD44780 A00 ROM matches ASCII from 0x20 to 0x7D, except 0x5C (a yen sign there).
            row[column + i] = text[i] is >= ' ' and <= '}' and not '\\' ? text[i] : '?';
        }
    }

    private int Send(char[][] next)
    {
        var written = 0;
        for (var r = 0; r < _rows; r++)
        {
            var first = _shownIsKnown ? next[r].AsSpan().CommonPrefixLength(_shown[r]) : 0;
            if (first == _columns)
            {
                continue;
            }

            var last = _columns - 1;
            while (_shownIsKnown && next[r][last] == _shown[r][last])
            {
                last--;
            }

            _lcd.SetCursorPosition(first, r);
            _lcd.Write(next[r].AsSpan(first, last - first + 1));
            next[r].AsSpan(first, last - first + 1).CopyTo(_shown[r].AsSpan(first));
            written += last - first + 1;
        }

        return written;
    }
}
