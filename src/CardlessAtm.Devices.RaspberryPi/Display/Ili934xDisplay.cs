using System.Buffers.Binary;
using System.Device.Gpio;
using System.Device.Spi;
using System.Drawing;
using CardlessAtm.Devices.Display;
using CardlessAtm.Devices.Status;
using CardlessAtm.Qr.Rendering;
using Iot.Device.Ili934x;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CardlessAtm.Devices.RaspberryPi.Display;

/// <summary>
/// The customer screen on an ILI9341 (240×320) or ILI9342 (320×240) SPI TFT, drawn through
/// Iot.Device.Bindings' <see cref="Ili9341"/>/<see cref="Ili9342"/>. Each screen is composed in
/// RGB565 (the panel's own format) and compared with what the panel already shows; only the
/// rectangles that changed cross the SPI bus, so a countdown tick sends a few hundred bytes,
/// not a 150 KB frame.
/// </summary>
/// <remarks>
/// Layout: a title bar coloured by <see cref="ScreenTone"/>, body lines, a fixed QR area (below
/// the lines in portrait, to their right in landscape) drawn by <see cref="QrFrameRenderer"/>, and
/// a countdown bar at the bottom. Text uses the binding's 5×8 font (printable ASCII; other
/// characters show as '?'); body lines too long for the panel wrap at spaces, a title too long is
/// cut, rows beyond the last are dropped (logged once per screen text).
/// </remarks>
public sealed class Ili934xDisplay : IDisplay, IDisposable
{
    private const int TitleHeight = 36;
    private const int CountdownHeight = 28;
    private const int LineSpacing = 4;
    private const int Margin = 6;
    private const int QrSidePortrait = 168;

    // Merging changed row runs that are this close saves a window set-up (11 bytes) for a few pixels.
    private const int MergeGapRows = 4;

    private static readonly ushort BodyBackground = Rgb565(Color.White);
    private static readonly ushort BodyText = Rgb565(Color.Black);
    private static readonly ushort TitleText = Rgb565(Color.White);
    private static readonly ushort CountdownBackground = Rgb565(Color.FromArgb(0xE0, 0xE0, 0xE0));

    private readonly Ili9341 _panel;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly QrFrameRenderer _qr;
    private readonly FrameRect _qrArea;
    private readonly ushort[] _next;
    private readonly ushort[] _shown;
    private readonly int _width;
    private readonly int _height;
    private readonly DeviceState _answering;
    private bool _shownIsKnown;
    private bool _disposed;
    private string? _lastComposedText;

    /// <summary>
    /// Initialises the panel on an opened SPI bus and GPIO controller. The display takes ownership
    /// of <paramref name="spiDevice"/> (the binding disposes it); the controller stays the caller's.
    /// </summary>
    /// <param name="spiDevice">The opened SPI device (see <see cref="Ili934xDisplayOptions.CreateSpiConnectionSettings"/>).</param>
    /// <param name="gpio">The controller that owns the D/C, RESET and backlight lines.</param>
    /// <param name="options">Validated settings.</param>
    /// <param name="logger">Where faults are logged.</param>
    /// <exception cref="ConfigurationException">A setting is invalid.</exception>
    public Ili934xDisplay(SpiDevice spiDevice, GpioController gpio, Ili934xDisplayOptions options, ILogger<Ili934xDisplay>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(spiDevice);
        ArgumentNullException.ThrowIfNull(gpio);
        ArgumentNullException.ThrowIfNull(options);
        new Ili934xDisplayOptionsValidator(nameof(Ili934xDisplayOptions)).ThrowIfInvalid(options);
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _panel = options.Model == Ili934xModel.Ili9342
            ? new Ili9342(spiDevice, options.DataCommandPin, options.ResetPin, options.BacklightPin, options.SpiBufferSize, gpio, shouldDispose: false)
            : new Ili9341(spiDevice, options.DataCommandPin, options.ResetPin, options.BacklightPin, options.SpiBufferSize, gpio, shouldDispose: false);
        _width = _panel.ScreenWidth;
        _height = _panel.ScreenHeight;
        var name = $"{options.Model.ToString().ToUpperInvariant()} {_width}x{_height}";
        Capabilities = new DisplayCapabilities(name, _width, _height, Font5x8Text.Fit(_width - (2 * Margin), 2), BodyRows(null), CanShowQr: true);
        Status = new DisplayStatus(name);

        var contentBottom = _height - CountdownHeight;
        _qrArea = IsLandscape
            ? new FrameRect(_width - (contentBottom - TitleHeight), TitleHeight, contentBottom - TitleHeight, contentBottom - TitleHeight)
            : new FrameRect(0, contentBottom - QrSidePortrait, _width, QrSidePortrait);
        _qr = QrFrameRenderer.Create(name, _width, _height, new PixelRect(_qrArea.X, _qrArea.Y, _qrArea.Width, _qrArea.Height));

        _next = new ushort[_width * _height];
        _shown = new ushort[_width * _height];

        // The binding clears the panel to black while it initialises.
        _shownIsKnown = true;
        _answering = options.MisoWired ? VerifyPresence(spiDevice, gpio, options) : DeviceState.Unverified;
        Status.Device = _answering;
    }

    /// <summary>The id an ILI934x answers to RDID4 (0xD3) after its dummy byte: IC version 0x00, then 0x93 and 0x41 or 0x42.</summary>
    public const byte ReadId4 = 0xD3;

    /// <inheritdoc />
    public DisplayCapabilities Capabilities { get; }

    /// <inheritdoc />
    public DisplayStatus Status { get; }

    /// <summary>SPI payload bytes (pixels and window set-up) sent by the last <see cref="ShowAsync"/>.</summary>
    public int LastUpdateBytes { get; private set; }

    /// <summary>Rectangles sent by the last <see cref="ShowAsync"/>.</summary>
    public IReadOnlyList<Rectangle> LastUpdateRectangles { get; private set; } = [];

    /// <summary>Where the QR code is drawn (the whole area is repainted light around the symbol).</summary>
    public Rectangle QrArea => new(_qrArea.X, _qrArea.Y, _qrArea.Width, _qrArea.Height);

    /// <summary>What the driver believes the panel shows (RGB565, row-major) — tests compare it with the emulated glass.</summary>
    internal ReadOnlySpan<ushort> ShownFrame => _shown;

    private bool IsLandscape => _width > _height;

    /// <summary>
    /// Reads RDID4 over MISO: the command byte with D/C low, a dummy byte, then three id bytes. A chip select or bus with
    /// nothing on it, or a panel that cannot make sense of the clock or mode, reads all zeros or all ones.
    /// </summary>
    /// <exception cref="DisplayNotAnsweringException">The id read back is not an ILI934x's.</exception>
    private static DeviceState VerifyPresence(SpiDevice spi, GpioController gpio, Ili934xDisplayOptions options)
    {
        Span<byte> answer = stackalloc byte[5];
        gpio.Write(options.DataCommandPin, PinValue.Low);
        spi.TransferFullDuplex([ReadId4, 0, 0, 0, 0], answer);
        var expected = options.Model == Ili934xModel.Ili9342 ? (byte)0x42 : (byte)0x41;
        return answer[3] == 0x93 && answer[4] == expected
            ? DeviceState.Online
            : throw new DisplayNotAnsweringException(
                $"its id read back (RDID4) is {Convert.ToHexString(answer[2..])}, an {options.Model} answers 0093{expected:X2}");
    }

    /// <inheritdoc />
    public async Task ShowAsync(Screen screen, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(screen);
        ObjectDisposedException.ThrowIf(_disposed, this);
        await _gate.WaitAsync(cancellationToken);
        try
        {
            Compose(screen);
            try
            {
                SendChanges();
                Status.Device = _answering;
            }
            catch (Exception ex) when (ex is IOException or InvalidOperationException or UnauthorizedAccessException)
            {
                // What reached the glass is unknown now: the next screen is sent whole.
                _shownIsKnown = false;
                Status.Device = DeviceState.HardwareError;
                _logger.LogError(ex, "Display {Display}: SPI write failed; the panel is marked in hardware error and will be redrawn in full on the next screen", Capabilities.Name);
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Releases the SPI device and the pins the binding opened (the controller itself stays open).</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _panel.Dispose();
        _gate.Dispose();
    }

    private static ushort Rgb565(Color c) => (ushort)(((c.R >> 3) << 11) | ((c.G >> 2) << 5) | (c.B >> 3));

    private static ushort TitleBackground(ScreenTone tone) => tone switch
    {
        ScreenTone.Success => Rgb565(Color.FromArgb(0x00, 0x80, 0x30)),
        ScreenTone.Error => Rgb565(Color.FromArgb(0xC0, 0x10, 0x10)),
        _ => Rgb565(Color.FromArgb(0x00, 0x33, 0x99)),
    };

    private int BodyScale(Screen? screen) => IsLandscape && screen?.Qr is not null ? 1 : 2;

    private FrameRect BodyArea(Screen? screen)
    {
        var bottom = _height - CountdownHeight;
        if (screen?.Qr is null)
        {
            return new FrameRect(0, TitleHeight, _width, bottom - TitleHeight);
        }

        return IsLandscape
            ? new FrameRect(0, TitleHeight, _qrArea.X, bottom - TitleHeight)
            : new FrameRect(0, TitleHeight, _width, _qrArea.Y - TitleHeight);
    }

    private int BodyRows(Screen? screen)
    {
        var scale = BodyScale(screen);
        return (BodyArea(screen).Height - LineSpacing) / (Font5x8Text.CellHeight(scale) + LineSpacing);
    }

    private void Compose(Screen screen)
    {
        // Layout problems are logged once per screen text, not on every countdown tick.
        var text = string.Join('\n', [screen.Title, .. screen.Lines, screen.Qr is null ? string.Empty : "QR"]);
        var warn = text != _lastComposedText;
        _lastComposedText = text;

        var frame = _next.AsSpan();
        frame.Fill(BodyBackground);

        var title = new FrameRect(0, 0, _width, TitleHeight);
        title.Fill(frame, _width, TitleBackground(screen.Tone));
        DrawLine(frame, screen.Title, Margin, (TitleHeight - Font5x8Text.CellHeight(2)) / 2, 2, TitleText, title, "title", warn);

        var body = BodyArea(screen);
        var scale = BodyScale(screen);
        var rows = BodyRows(screen);
        var lineHeight = Font5x8Text.CellHeight(scale) + LineSpacing;
        var wrapped = Wrap(screen.Lines, Font5x8Text.Fit(body.Width - (2 * Margin), scale));
        if (wrapped.Count > rows && warn)
        {
            _logger.LogWarning("Display {Display}: screen '{Title}' needs {Needed} text rows; {Rows} fit, the rest are not shown", Capabilities.Name, screen.Title, wrapped.Count, rows);
        }

        for (var i = 0; i < wrapped.Count && i < rows; i++)
        {
            DrawLine(frame, wrapped[i], body.X + Margin, body.Y + LineSpacing + (i * lineHeight), scale, BodyText, body, $"row {i + 1}", warn);
        }

        if (screen.Qr is { } qr)
        {
            _qr.DrawRgb565(qr, frame, QrFrameRenderer.Rgb565Black, QrFrameRenderer.Rgb565White);
        }

        if (screen.SecondsLeft is { } seconds)
        {
            var bar = new FrameRect(0, _height - CountdownHeight, _width, CountdownHeight);
            bar.Fill(frame, _width, CountdownBackground);
            DrawLine(frame, $"Time left: {Math.Max(0, seconds)} s", Margin, bar.Y + ((CountdownHeight - Font5x8Text.CellHeight(2)) / 2), 2, BodyText, bar, "countdown", warn);
        }
    }

    /// <summary>Breaks each line at spaces into rows of at most <paramref name="columns"/> characters (a word longer than a row is split).</summary>
    internal static List<string> Wrap(IReadOnlyList<string> lines, int columns)
    {
        var rows = new List<string>();
        foreach (var line in lines)
        {
            var rest = line.TrimEnd();
            if (rest.Length == 0 || columns <= 0)
            {
                rows.Add(string.Empty);
                continue;
            }

            while (rest.Length > columns)
            {
                var cut = rest.LastIndexOf(' ', columns);
                if (cut <= 0)
                {
                    cut = columns;
                }

                rows.Add(rest[..cut].TrimEnd());
                rest = rest[cut..].TrimStart();
            }

            rows.Add(rest);
        }

        return rows;
    }

    private void DrawLine(Span<ushort> frame, string text, int x, int y, int scale, ushort color, FrameRect clip, string what, bool warn)
    {
        var fit = Font5x8Text.Fit(clip.Right - x - Margin, scale);
        if (text.Length > fit)
        {
            if (warn)
            {
                _logger.LogWarning("Display {Display}: {What} '{Text}' is {Length} characters; {Fit} fit, the rest is cut", Capabilities.Name, what, text, text.Length, fit);
            }

            text = text[..fit];
        }

        Font5x8Text.Draw(frame, _width, text, x, y, scale, color, clip);
    }

    private void SendChanges()
    {
        var rectangles = _shownIsKnown ? ChangedRectangles() : [new Rectangle(0, 0, _width, _height)];
        var bytes = 0;
        var buffer = Array.Empty<byte>();
        foreach (var rect in rectangles)
        {
            var length = rect.Width * rect.Height * 2;
            if (buffer.Length < length)
            {
                buffer = new byte[length];
            }

            var offset = 0;
            for (var y = rect.Top; y < rect.Bottom; y++)
            {
                foreach (var pixel in _next.AsSpan((y * _width) + rect.Left, rect.Width))
                {
                    BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(offset), pixel);
                    offset += 2;
                }
            }

            _panel.SendBitmapPixelData(buffer.AsSpan(0, length), rect);

            // CASET + PASET + RAMWR command bytes and their 8 parameter bytes, then the pixels.
            bytes += 11 + length;
            for (var y = rect.Top; y < rect.Bottom; y++)
            {
                _next.AsSpan((y * _width) + rect.Left, rect.Width).CopyTo(_shown.AsSpan((y * _width) + rect.Left));
            }
        }

        _shownIsKnown = true;
        LastUpdateBytes = bytes;
        LastUpdateRectangles = rectangles;
    }

    /// <summary>Runs of changed rows (merged across small gaps), each cut to the columns that changed in it.</summary>
    private List<Rectangle> ChangedRectangles()
    {
        var result = new List<Rectangle>();
        int? runTop = null;
        var runBottom = 0;
        var runLeft = int.MaxValue;
        var runRight = -1;
        for (var y = 0; y < _height; y++)
        {
            var next = _next.AsSpan(y * _width, _width);
            var shown = _shown.AsSpan(y * _width, _width);
            var first = next.CommonPrefixLength(shown);
            if (first == _width)
            {
                continue;
            }

            var last = _width - 1;
            while (next[last] == shown[last])
            {
                last--;
            }

            if (runTop is { } top && y - runBottom > MergeGapRows)
            {
                result.Add(Rectangle.FromLTRB(runLeft, top, runRight + 1, runBottom + 1));
                runTop = null;
            }

            if (runTop is null)
            {
                runTop = y;
                runLeft = first;
                runRight = last;
            }

            runLeft = Math.Min(runLeft, first);
            runRight = Math.Max(runRight, last);
            runBottom = y;
        }

        if (runTop is { } lastTop)
        {
            result.Add(Rectangle.FromLTRB(runLeft, lastTop, runRight + 1, runBottom + 1));
        }

        return result;
    }
}
