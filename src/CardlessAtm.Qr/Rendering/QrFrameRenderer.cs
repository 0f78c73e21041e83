using System.Buffers.Binary;
using System.Runtime.InteropServices;

using CardlessAtm.Qr.Payload;

namespace CardlessAtm.Qr.Rendering;

/// <summary>How a 1-bit-per-pixel frame stores a pixel.</summary>
public enum MonochromePolarity
{
    /// <summary>A set bit is a dark (inked) pixel — most LCD and OLED controllers.</summary>
    SetBitIsDark,

    /// <summary>A set bit is a light pixel — e.g. many e-paper controllers, where 1 is white.</summary>
    SetBitIsLight,
}

/// <summary>
/// Draws QR codes into a display's frame, centred in a fixed area: integer pixels per module (the largest
/// that fits), a quiet zone of at least 4 modules, dark on light. Configured once per display; a display too
/// small for the session QR code is refused then, with <see cref="QrAreaTooSmallException"/>.
/// </summary>
/// <remarks>
/// Frame formats: RGB565 as <see cref="ushort"/> values (bits RRRRRGGGGGGBBBBB, host byte order, for
/// in-memory frames and emulators); RGB565 big-endian bytes (high byte first, what an ILI9341 in 16-bit
/// mode takes over SPI, e.g. <c>Ili9341.SendBitmapPixelData</c>); 1 bit per pixel, rows of
/// ⌈width / 8⌉ bytes, most significant bit = leftmost pixel. All frames are row-major, top row first.
/// </remarks>
public sealed class QrFrameRenderer
{
    /// <summary>The fewest pixels per module a display may use (below it phones misread from arm's length).</summary>
    public const int MinimumPixelsPerModule = 3;

    /// <summary>The quiet zone drawn around the symbol, in modules (the QR standard's minimum).</summary>
    public const int QuietZoneModules = 4;

    /// <summary>Black in RGB565.</summary>
    public const ushort Rgb565Black = 0x0000;

    /// <summary>White in RGB565.</summary>
    public const ushort Rgb565White = 0xFFFF;

    private QrFrameRenderer(string displayName, int frameWidth, int frameHeight, PixelRect area, int maxVersion)
    {
        DisplayName = displayName;
        FrameWidth = frameWidth;
        FrameHeight = frameHeight;
        Area = area;
        MaxVersion = maxVersion;
    }

    /// <summary>The display's name, used in messages.</summary>
    public string DisplayName { get; }

    /// <summary>Frame width in pixels.</summary>
    public int FrameWidth { get; }

    /// <summary>Frame height in pixels.</summary>
    public int FrameHeight { get; }

    /// <summary>The area of the frame the QR code is centred in; all of it is drawn (light around the symbol).</summary>
    public PixelRect Area { get; }

    /// <summary>The largest QR version this display was configured for.</summary>
    public int MaxVersion { get; }

    /// <summary>Bytes of a 1-bit-per-pixel frame row.</summary>
    public int MonochromeStride => (FrameWidth + 7) / 8;

    /// <summary>
    /// Configures a display. <paramref name="area"/> defaults to the whole frame; <paramref name="maxVersion"/>
    /// defaults to the session payload's version (4).
    /// </summary>
    /// <exception cref="QrAreaTooSmallException">The area cannot hold a version-<paramref name="maxVersion"/> code at 3 pixels per module with its quiet zone.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The frame is empty or the area does not lie inside it.</exception>
    public static QrFrameRenderer Create(string displayName, int frameWidth, int frameHeight, PixelRect? area = null, int maxVersion = QrPayloadFormat.QrVersion)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(displayName);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(frameWidth);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(frameHeight);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxVersion, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxVersion, 40);
        var qrArea = area ?? new PixelRect(0, 0, frameWidth, frameHeight);
        if (qrArea.X < 0 || qrArea.Y < 0 || qrArea.Width <= 0 || qrArea.Height <= 0
            || qrArea.X + qrArea.Width > frameWidth || qrArea.Y + qrArea.Height > frameHeight)
        {
            throw new ArgumentOutOfRangeException(nameof(area), qrArea, $"Display '{displayName}': the QR area {qrArea} does not lie inside the {frameWidth}x{frameHeight} frame.");
        }

        var required = RequiredSidePixels(maxVersion);
        if (Math.Min(qrArea.Width, qrArea.Height) < required)
        {
            throw new QrAreaTooSmallException(displayName, qrArea, maxVersion, required);
        }

        return new QrFrameRenderer(displayName, frameWidth, frameHeight, qrArea, maxVersion);
    }

    /// <summary>The side of the smallest square that holds a code of <paramref name="version"/> at 3 pixels per module with its quiet zone.</summary>
    public static int RequiredSidePixels(int version) => (17 + (4 * version) + (2 * QuietZoneModules)) * MinimumPixelsPerModule;

    /// <summary>Where <paramref name="modules"/> lands: the largest whole pixels per module that fit, centred in <see cref="Area"/>.</summary>
    /// <exception cref="ArgumentException">The matrix is larger than the version this display was configured for.</exception>
    public QrPlacement Place(ModuleMatrix modules)
    {
        ArgumentNullException.ThrowIfNull(modules);
        var maxSize = 17 + (4 * MaxVersion);
        if (modules.Size > maxSize)
        {
            throw new ArgumentException(
                $"Display '{DisplayName}' is configured for QR codes up to version {MaxVersion} ({maxSize} modules); this one has {modules.Size}.", nameof(modules));
        }

        var withQuietZone = modules.Size + (2 * QuietZoneModules);
        var px = Math.Min(Area.Width, Area.Height) / withQuietZone;
        var side = withQuietZone * px;
        var symbol = new PixelRect(Area.X + ((Area.Width - side) / 2), Area.Y + ((Area.Height - side) / 2), side, side);
        var quiet = QuietZoneModules * px;
        return new QrPlacement(px, symbol, new PixelRect(symbol.X + quiet, symbol.Y + quiet, modules.Size * px, modules.Size * px));
    }

    /// <summary>Draws into an RGB565 frame of <see cref="FrameWidth"/> × <see cref="FrameHeight"/> values; only <see cref="Area"/> changes.</summary>
    /// <exception cref="ArgumentException">The frame is too short, or the colours are not dark on light.</exception>
    public QrPlacement DrawRgb565(ModuleMatrix modules, Span<ushort> frame, ushort dark = Rgb565Black, ushort light = Rgb565White)
    {
        var placement = Place(modules);
        RequireLength(frame.Length, FrameWidth * FrameHeight, "RGB565 frame", "pixels", nameof(frame));
        RequireDarkOnLight(dark, light);
        var sink = new Rgb565Sink(frame, FrameWidth, dark, light);
        QrRasterizer.Draw(ref sink, modules, Area, placement);
        return placement;
    }

    /// <summary>Draws into a big-endian RGB565 frame (2 bytes per pixel, high byte first); only <see cref="Area"/> changes.</summary>
    /// <exception cref="ArgumentException">The frame is too short, or the colours are not dark on light.</exception>
    public QrPlacement DrawRgb565BigEndian(ModuleMatrix modules, Span<byte> frame, ushort dark = Rgb565Black, ushort light = Rgb565White)
    {
        var placement = Place(modules);
        RequireLength(frame.Length, FrameWidth * FrameHeight * 2, "big-endian RGB565 frame", "bytes", nameof(frame));
        RequireDarkOnLight(dark, light);
        var sink = new Rgb565Sink(MemoryMarshal.Cast<byte, ushort>(frame), FrameWidth, ToBigEndian(dark), ToBigEndian(light));
        QrRasterizer.Draw(ref sink, modules, Area, placement);
        return placement;
    }

    /// <summary>
    /// Draws only the symbol with its quiet zone (the square <see cref="QrPlacement.Symbol"/>) as big-endian
    /// RGB565, ready to send to that window of an ILI9341: the fewest bytes that show the code
    /// (<see cref="SymbolSpiBytes"/>). The rest of <see cref="Area"/> is the caller's light background.
    /// </summary>
    /// <exception cref="ArgumentException">The buffer is shorter than <see cref="SymbolSpiBytes"/>, or the colours are not dark on light.</exception>
    public QrPlacement DrawSymbolRgb565BigEndian(ModuleMatrix modules, Span<byte> window, ushort dark = Rgb565Black, ushort light = Rgb565White)
    {
        var placement = Place(modules);
        var side = placement.Symbol.Width;
        RequireLength(window.Length, side * side * 2, "symbol window", "bytes", nameof(window));
        RequireDarkOnLight(dark, light);
        var local = new QrPlacement(
            placement.PixelsPerModule,
            placement.Symbol with { X = 0, Y = 0 },
            placement.Modules with { X = placement.Modules.X - placement.Symbol.X, Y = placement.Modules.Y - placement.Symbol.Y });
        var sink = new Rgb565Sink(MemoryMarshal.Cast<byte, ushort>(window), side, ToBigEndian(dark), ToBigEndian(light));
        QrRasterizer.Draw(ref sink, modules, local.Symbol, local);
        return placement;
    }

    /// <summary>Bytes that cross the SPI bus to show <paramref name="modules"/> with <see cref="DrawSymbolRgb565BigEndian"/>.</summary>
    public int SymbolSpiBytes(ModuleMatrix modules)
    {
        var side = Place(modules).Symbol.Width;
        return side * side * 2;
    }

    /// <summary>Draws into a 1-bit-per-pixel frame (rows of <see cref="MonochromeStride"/> bytes, MSB = leftmost); only <see cref="Area"/> changes.</summary>
    /// <exception cref="ArgumentException">The frame is too short.</exception>
    public QrPlacement DrawMonochrome(ModuleMatrix modules, Span<byte> frame, MonochromePolarity polarity = MonochromePolarity.SetBitIsDark)
    {
        var placement = Place(modules);
        RequireLength(frame.Length, MonochromeStride * FrameHeight, "1-bit frame", "bytes", nameof(frame));
        var sink = new MonochromeSink(frame, MonochromeStride, polarity == MonochromePolarity.SetBitIsDark);
        QrRasterizer.Draw(ref sink, modules, Area, placement);
        return placement;
    }

    private void RequireLength(int actual, int needed, string what, string unit, string paramName)
    {
        if (actual < needed)
        {
            throw new ArgumentException($"Display '{DisplayName}': the {what} holds {actual} {unit}; it needs {needed}.", paramName);
        }
    }

    private static void RequireDarkOnLight(ushort dark, ushort light)
    {
        // Phones look for dark modules on a light ground; a reversed or low-contrast code fails on many readers.
        if (Luma(light) - Luma(dark) < 128)
        {
            throw new ArgumentException($"QR colours must be dark on light with strong contrast; dark 0x{dark:X4} and light 0x{light:X4} are not.", nameof(dark));
        }
    }

    private static int Luma(ushort rgb565)
    {
        var r = ((rgb565 >> 11) & 0x1F) * 255 / 31;
        var g = ((rgb565 >> 5) & 0x3F) * 255 / 63;
        var b = (rgb565 & 0x1F) * 255 / 31;
        return ((299 * r) + (587 * g) + (114 * b)) / 1000;
    }

    private static ushort ToBigEndian(ushort value) => BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(value) : value;

    private readonly ref struct Rgb565Sink(Span<ushort> frame, int width, ushort dark, ushort light) : IPixelRunSink
    {
        private readonly Span<ushort> _frame = frame;

        public void Fill(int y, int x, int count, bool isDark) => _frame.Slice((y * width) + x, count).Fill(isDark ? dark : light);
    }

    private readonly ref struct MonochromeSink(Span<byte> frame, int stride, bool setBitIsDark) : IPixelRunSink
    {
        private readonly Span<byte> _frame = frame;

        public void Fill(int y, int x, int count, bool isDark)
        {
            var set = isDark == setBitIsDark;
            var row = _frame.Slice(y * stride, stride);
            var end = x + count;

            // Partial leading byte, whole bytes, partial trailing byte.
            while (x < end && (x & 7) != 0)
            {
                SetBit(row, x++, set);
            }

            var wholeBytes = (end - x) / 8;
            row.Slice(x / 8, wholeBytes).Fill(set ? (byte)0xFF : (byte)0x00);
            x += wholeBytes * 8;
            while (x < end)
            {
                SetBit(row, x++, set);
            }
        }

        private static void SetBit(Span<byte> row, int x, bool set)
        {
            var mask = (byte)(0x80 >> (x & 7));
            row[x >> 3] = set ? (byte)(row[x >> 3] | mask) : (byte)(row[x >> 3] & ~mask);
        }
    }
}
