using Iot.Device.Graphics;

namespace CardlessAtm.Devices.RaspberryPi.Imaging;

/// <summary>
/// The <see cref="IImageFactory"/> Iot.Device.Bindings 4.x needs before anything calls
/// <see cref="BitmapImage.CreateBitmap"/> (the SkiaSharp adapter is not available to us).
/// Register it once at start-up with <see cref="Register"/>.
/// </summary>
public sealed class ManagedImageFactory : IImageFactory
{
    /// <summary>The shared instance.</summary>
    public static ManagedImageFactory Instance { get; } = new();

    /// <summary>Registers <see cref="Instance"/> as Iot.Device.Bindings' image factory (idempotent).</summary>
    public static void Register() => BitmapImage.RegisterImageFactory(Instance);

    /// <inheritdoc />
    public BitmapImage CreateBitmap(int width, int height, PixelFormat pixelFormat) => new ManagedBitmapImage(width, height, pixelFormat);

    /// <summary>Decoding image files is not needed by any display here and is not supported.</summary>
    /// <exception cref="NotSupportedException">Always.</exception>
    public BitmapImage CreateFromStream(Stream file) =>
        throw new NotSupportedException("The managed image factory does not decode image files; draw into a bitmap made with CreateBitmap instead.");
}
