using CardlessAtm.Devices.Display;
using CardlessAtm.Qr.Rendering;
using Iot.Device.Graphics;
using SkiaSharp;

namespace CardlessAtm.Panel;

/// <summary>
/// Renders the <see cref="Screen"/> model into an RGB565 frame at the display's own resolution, laid out as the
/// ILI934x driver lays it out (title bar coloured by tone, body in the 5x8 font at scale 2, the QR code in the lower
/// square drawn by <see cref="QrFrameRenderer"/>, the countdown bar), and encodes it as PNG: the picture the customer
/// sees on a Simulated rig and the one the phone pane photographs.
/// </summary>
public sealed class ScreenImage
{
    private const int TitleHeight = 36;
    private const int CountdownHeight = 28;
    private const int LineSpacing = 4;
    private const int Margin = 6;
    private const int QrSidePortrait = 168;
    private const ushort BodyBackground = 0xFFFF;
    private const ushort BodyText = 0x0000;
    private const ushort TitleText = 0xFFFF;

    private static readonly Font5x8 Font = new();
    private static readonly ushort CountdownBackground = Rgb565(0xE0, 0xE0, 0xE0);

    private readonly QrFrameRenderer _qr;
    private readonly Rect _qrArea;

    /// <summary>Lays out a frame of <paramref name="width"/> × <paramref name="height"/> pixels.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The frame is too small for the title, a QR code and the countdown.</exception>
    public ScreenImage(string displayName, int width, int height)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 120);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 120);
        Width = width;
        Height = height;
        var contentBottom = height - CountdownHeight;
        _qrArea = width > height
            ? new Rect(width - (contentBottom - TitleHeight), TitleHeight, contentBottom - TitleHeight, contentBottom - TitleHeight)
            : new Rect(0, contentBottom - Math.Min(QrSidePortrait, contentBottom - TitleHeight), width, Math.Min(QrSidePortrait, contentBottom - TitleHeight));
        _qr = QrFrameRenderer.Create(displayName, width, height, new PixelRect(_qrArea.X, _qrArea.Y, _qrArea.Width, _qrArea.Height));
    }

    /// <summary>Frame width in pixels.</summary>
    public int Width { get; }

    /// <summary>Frame height in pixels.</summary>
    public int Height { get; }

    /// <summary>The frame for <paramref name="screen"/> (black when null: the panel is dark) as RGB565 values, row-major.</summary>
    public ushort[] RenderRgb565(Screen? screen)
    {
        var frame = new ushort[Width * Height];
        if (screen is null)
        {
            return frame;
        }

        var landscape = Width > Height;
        frame.AsSpan().Fill(BodyBackground);
        var title = new Rect(0, 0, Width, TitleHeight);
        Fill(frame, title, TitleBackground(screen.Tone));
        DrawText(frame, screen.Title, Margin, (TitleHeight - 16) / 2, 2, TitleText, title);

        var bottom = Height - CountdownHeight;
        var body = screen.Qr is null
            ? new Rect(0, TitleHeight, Width, bottom - TitleHeight)
            : landscape ? new Rect(0, TitleHeight, _qrArea.X, bottom - TitleHeight) : new Rect(0, TitleHeight, Width, _qrArea.Y - TitleHeight);
        var scale = landscape && screen.Qr is not null ? 1 : 2;
        var lineHeight = (8 * scale) + LineSpacing;
        var rows = (body.Height - LineSpacing) / lineHeight;
        var wrapped = Wrap(screen.Lines, Math.Max(0, (body.Width - (2 * Margin)) / (6 * scale)));
        for (var i = 0; i < wrapped.Count && i < rows; i++)
        {
            DrawText(frame, wrapped[i], body.X + Margin, body.Y + LineSpacing + (i * lineHeight), scale, BodyText, body);
        }

        if (screen.Qr is { } qr)
        {
            _qr.DrawRgb565(qr, frame, QrFrameRenderer.Rgb565Black, QrFrameRenderer.Rgb565White);
        }

        if (screen.SecondsLeft is { } seconds)
        {
            var bar = new Rect(0, Height - CountdownHeight, Width, CountdownHeight);
            Fill(frame, bar, CountdownBackground);
            DrawText(frame, $"Time left: {Math.Max(0, seconds)} s", Margin, bar.Y + ((CountdownHeight - 16) / 2), 2, BodyText, bar);
        }

        return frame;
    }

    /// <summary>The frame for <paramref name="screen"/> as a PNG file's bytes.</summary>
    public byte[] RenderPng(Screen? screen) => EncodePng(RenderRgb565(screen), Width, Height);

    /// <summary>Encodes an RGB565 frame (row-major, host byte order) as PNG.</summary>
    public static byte[] EncodePng(ReadOnlySpan<ushort> rgb565, int width, int height)
    {
        if (rgb565.Length < width * height)
        {
            throw new ArgumentException($"The frame holds {rgb565.Length} pixels; {width}x{height} needs {width * height}.", nameof(rgb565));
        }

        using var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        var pixels = new byte[width * height * 4];
        for (var i = 0; i < width * height; i++)
        {
            var c = rgb565[i];
            var r = (c >> 11) & 0x1F;
            var g = (c >> 5) & 0x3F;
            var b = c & 0x1F;
            pixels[i * 4] = (byte)((r << 3) | (r >> 2));
            pixels[(i * 4) + 1] = (byte)((g << 2) | (g >> 4));
            pixels[(i * 4) + 2] = (byte)((b << 3) | (b >> 2));
            pixels[(i * 4) + 3] = 0xFF;
        }

        System.Runtime.InteropServices.Marshal.Copy(pixels, 0, bitmap.GetPixels(), pixels.Length);
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    /// <summary>Breaks each line at spaces into rows of at most <paramref name="columns"/> characters.</summary>
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

    private static ushort Rgb565(int r, int g, int b) => (ushort)(((r >> 3) << 11) | ((g >> 2) << 5) | (b >> 3));

    private static ushort TitleBackground(ScreenTone tone) => tone switch
    {
        ScreenTone.Success => Rgb565(0x00, 0x80, 0x30),
        ScreenTone.Error => Rgb565(0xC0, 0x10, 0x10),
        _ => Rgb565(0x00, 0x33, 0x99),
    };

    private void Fill(ushort[] frame, Rect r, ushort color)
    {
        for (var y = r.Y; y < r.Y + r.Height; y++)
        {
            frame.AsSpan((y * Width) + r.X, r.Width).Fill(color);
        }
    }

    private void DrawText(ushort[] frame, string text, int x, int y, int scale, ushort color, Rect clip)
    {
        var fit = Math.Max(0, (clip.X + clip.Width - x - Margin) / (6 * scale));
        if (text.Length > fit)
        {
            text = text[..fit];
        }

        foreach (var ch in text)
        {
            var c = ch is >= ' ' and <= '~' ? ch : '?';
            Font.GetCharData(c, out ReadOnlySpan<ushort> rows);
            for (var row = 0; row < rows.Length; row++)
            {
                for (var col = 0; col < 5; col++)
                {
                    if ((rows[row] & (1 << (4 - col))) == 0)
                    {
                        continue;
                    }

                    for (var dy = 0; dy < scale; dy++)
                    {
                        for (var dx = 0; dx < scale; dx++)
                        {
                            var px = x + (col * scale) + dx;
                            var py = y + (row * scale) + dy;
                            if (px >= clip.X && px < clip.X + clip.Width && py >= clip.Y && py < clip.Y + clip.Height)
                            {
                                frame[(py * Width) + px] = color;
                            }
                        }
                    }
                }
            }

            x += 6 * scale;
        }
    }

    private readonly record struct Rect(int X, int Y, int Width, int Height);
}
