using System.Device.Gpio;
using CardlessAtm.Devices.Display;
using CardlessAtm.Devices.RaspberryPi.Display;
using CardlessAtm.FirmwareSim.Gpio;
using SkiaSharp;

namespace CardlessAtm.Panel;

/// <summary>
/// The screen as the ILI934x driver draws it: a private <see cref="Ili934xDisplay"/> (the real driver, as on a Pi) on an
/// <see cref="Ili934xPanelEmulator"/> (the firmware-sim rig's emulated controller and glass) over a virtual GPIO board.
/// Each <see cref="Screen"/> goes through the driver's layout, font, QR renderer and SPI commands; the picture is the
/// emulated glass, encoded as PNG: what the customer would see on that panel, and the one the phone pane photographs.
/// </summary>
public sealed class ScreenImage : IDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly GpioController _gpio;
    private readonly Ili934xPanelEmulator _glass;
    private readonly Ili934xDisplay _driver;
    private Screen? _drawn;

    /// <summary>Opens the driver on an emulated panel of <paramref name="width"/> × <paramref name="height"/> pixels.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Not an ILI934x's resolution: 240×320 (ILI9341) or 320×240 (ILI9342).</exception>
    public ScreenImage(int width, int height)
    {
        var model = ModelFor(width, height)
            ?? throw new ArgumentOutOfRangeException(nameof(width), $"{width}x{height}: the screen image is drawn by the ILI934x driver, which has 240x320 (ILI9341) or 320x240 (ILI9342).");
        var options = new Ili934xDisplayOptions { Model = model };
        var board = new VirtualGpioBoard(TimeProvider.System);
        _gpio = board.CreateController();
        _glass = new Ili934xPanelEmulator(board, options.DataCommandPin, options.ResetPin, model == Ili934xModel.Ili9342 ? Ili934xPanelModel.Ili9342 : Ili934xPanelModel.Ili9341)
        {
            MisoWired = options.MisoWired,
        };
        _driver = new Ili934xDisplay(_glass, _gpio, options);
        Width = width;
        Height = height;
    }

    /// <summary>Frame width in pixels.</summary>
    public int Width { get; }

    /// <summary>Frame height in pixels.</summary>
    public int Height { get; }

    /// <summary>The ILI934x model of that resolution, or null when no ILI934x has it.</summary>
    public static Ili934xModel? ModelFor(int width, int height) => (width, height) switch
    {
        (240, 320) => Ili934xModel.Ili9341,
        (320, 240) => Ili934xModel.Ili9342,
        _ => null,
    };

    /// <summary>
    /// The glass after the driver has shown <paramref name="screen"/> (black when null and nothing was shown yet: the
    /// driver clears the panel when it starts), as RGB565 values, row-major.
    /// </summary>
    public async Task<ushort[]> RenderRgb565Async(Screen? screen, CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (screen is not null && !Equals(screen, _drawn))
            {
                await _driver.ShowAsync(screen, cancellationToken);
                _drawn = screen;
            }

            return _glass.Snapshot().Pixels;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>The glass after <paramref name="screen"/> as a PNG file's bytes.</summary>
    public async Task<byte[]> RenderPngAsync(Screen? screen, CancellationToken cancellationToken = default) =>
        EncodePng(await RenderRgb565Async(screen, cancellationToken), Width, Height);

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
            var c = Ili934xPanelEmulator.ToColor(rgb565[i]);
            pixels[i * 4] = c.R;
            pixels[(i * 4) + 1] = c.G;
            pixels[(i * 4) + 2] = c.B;
            pixels[(i * 4) + 3] = 0xFF;
        }

        System.Runtime.InteropServices.Marshal.Copy(pixels, 0, bitmap.GetPixels(), pixels.Length);
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    /// <summary>Releases the driver, the emulated panel and the virtual board's controller.</summary>
    public void Dispose()
    {
        _gate.Wait();
        try
        {
            // The driver disposes the emulated panel, its SPI device; the controller is ours.
            _driver.Dispose();
            _gpio.Dispose();
        }
        finally
        {
            _gate.Release();
            _gate.Dispose();
        }
    }
}
