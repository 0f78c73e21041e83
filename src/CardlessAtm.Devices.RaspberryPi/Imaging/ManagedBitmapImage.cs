using System.Drawing;
using System.Runtime.InteropServices;
using Iot.Device.Graphics;

namespace CardlessAtm.Devices.RaspberryPi.Imaging;

/// <summary>
/// A plain managed 32-bit bitmap (one <see cref="int"/> per pixel, 0xAARRGGBB) for
/// Iot.Device.Bindings' <see cref="BitmapImage"/> API, so the ILI934x binding and the panel
/// emulator work without SkiaSharp's native library. It supports what the displays need:
/// pixels, clearing, rectangle fills and saving as PNG.
/// </summary>
public sealed class ManagedBitmapImage : BitmapImage
{
    private readonly int[] _pixels;

    /// <summary>Creates a width × height image in <paramref name="pixelFormat"/> (32 bpp ARGB or XRGB).</summary>
    /// <exception cref="NotSupportedException">Another pixel format was asked for.</exception>
    public ManagedBitmapImage(int width, int height, PixelFormat pixelFormat = PixelFormat.Format32bppArgb)
        : base(CheckSize(width, nameof(width)), CheckSize(height, nameof(height)), width * 4, CheckFormat(pixelFormat))
    {
        _pixels = new int[width * height];
    }

    /// <summary>The pixels, row-major, 0xAARRGGBB.</summary>
    public Span<int> Pixels => _pixels;

    /// <inheritdoc />
    public override void SetPixel(int x, int y, Color color) => _pixels[Index(x, y)] = color.ToArgb();

    /// <inheritdoc />
    public override Color GetPixel(int x, int y) => Color.FromArgb(_pixels[Index(x, y)]);

    /// <inheritdoc />
    public override void Clear(Color color = default) => Array.Fill(_pixels, color.ToArgb());

    /// <summary>Fills the part of <paramref name="area"/> that lies on the image.</summary>
    public void FillRectangle(Rectangle area, Color color)
    {
        area.Intersect(new Rectangle(0, 0, Width, Height));
        var argb = color.ToArgb();
        for (var y = area.Top; y < area.Bottom; y++)
        {
            _pixels.AsSpan((y * Width) + area.Left, area.Width).Fill(argb);
        }
    }

    /// <inheritdoc />
    public override Span<byte> AsByteSpan() => MemoryMarshal.AsBytes(_pixels.AsSpan());

    /// <inheritdoc />
    /// <exception cref="NotSupportedException"><paramref name="format"/> is not PNG.</exception>
    public override void SaveToStream(Stream stream, ImageFileType format)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (format != ImageFileType.Png)
        {
            throw new NotSupportedException($"The managed image factory saves PNG only; {format} was asked for.");
        }

        PngEncoder.Write(stream, Width, Height, _pixels);
    }

    /// <summary>This image has no drawing surface beyond its pixel methods; the returned object does nothing.</summary>
    public override IGraphics GetDrawingApi() => new NoGraphics();

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        // Managed memory only.
    }

    private static int CheckSize(int value, string name)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(value, name);
        return value;
    }

    private static PixelFormat CheckFormat(PixelFormat format) =>
        format is PixelFormat.Format32bppArgb or PixelFormat.Format32bppXrgb
            ? format
            : throw new NotSupportedException($"The managed image factory makes 32-bit ARGB/XRGB images; {format} is not supported.");

    private int Index(int x, int y)
    {
        if ((uint)x >= (uint)Width || (uint)y >= (uint)Height)
        {
            throw new ArgumentOutOfRangeException(x < 0 || x >= Width ? nameof(x) : nameof(y), $"Pixel ({x},{y}) is outside the {Width}×{Height} image.");
        }

        return (y * Width) + x;
    }

    private sealed class NoGraphics : IGraphics
    {
        public void Dispose()
        {
        }
    }
}
