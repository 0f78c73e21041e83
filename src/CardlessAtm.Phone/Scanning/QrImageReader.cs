using SkiaSharp;
using ZXing;
using ZXing.Common;

namespace CardlessAtm.Phone.Scanning;

/// <summary>
/// Finds the QR code in a picture (a PNG the ATM simulator saved, a screenshot, a camera frame as PNG or JPEG):
/// SkiaSharp decodes the image, ZXing.Net finds and decodes the symbol. Transparent pixels count as white,
/// as a camera would see a code drawn on a white screen.
/// </summary>
public static class QrImageReader
{
    /// <summary>Largest image file accepted (bytes).</summary>
    public const int MaxFileBytes = 16 * 1024 * 1024;

    /// <summary>Largest image side accepted (pixels); bigger pictures are refused before decoding.</summary>
    public const int MaxSidePixels = 8192;

    private static readonly byte[] PngSignature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>True when <paramref name="bytes"/> start with the PNG signature.</summary>
    public static bool LooksLikePng(ReadOnlySpan<byte> bytes) => bytes.StartsWith(PngSignature);

    /// <summary>Reads the image file at <paramref name="path"/> and returns the text of the QR code in it.</summary>
    /// <exception cref="PhoneInputException">The file is missing or unreadable, not an image, too large, or holds no QR code.</exception>
    public static string ReadFile(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var where = $"QR image {path}";
        byte[] bytes;
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists)
            {
                throw new PhoneInputException(PhoneInputError.QrFileUnreadable, where, "the file does not exist.");
            }

            if (info.Length > MaxFileBytes)
            {
                throw new PhoneInputException(PhoneInputError.QrImageInvalid, where, $"the file is {info.Length} bytes; the phone reads images up to {MaxFileBytes} bytes.");
            }

            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new PhoneInputException(PhoneInputError.QrFileUnreadable, where, $"the file cannot be read: {ex.Message}", ex);
        }

        return Read(bytes, where);
    }

    /// <summary>Returns the text of the QR code in an encoded image (PNG or JPEG).</summary>
    /// <param name="image">The encoded image bytes.</param>
    /// <param name="where">Names the image in errors, e.g. its file name.</param>
    /// <exception cref="PhoneInputException">Not an image, too large, or no QR code in it.</exception>
    public static string Read(ReadOnlySpan<byte> image, string where = "QR image")
    {
        if (image.Length == 0)
        {
            throw new PhoneInputException(PhoneInputError.QrImageInvalid, where, "the image is empty.");
        }

        if (image.Length > MaxFileBytes)
        {
            throw new PhoneInputException(PhoneInputError.QrImageInvalid, where, $"the image is {image.Length} bytes; the phone reads images up to {MaxFileBytes} bytes.");
        }

        using var data = SKData.CreateCopy(image);
        using var codec = SKCodec.Create(data)
            ?? throw new PhoneInputException(PhoneInputError.QrImageInvalid, where, "this is not an image the phone can decode (expected a PNG or JPEG).");
        var info = codec.Info;
        if (info.Width <= 0 || info.Height <= 0 || info.Width > MaxSidePixels || info.Height > MaxSidePixels)
        {
            throw new PhoneInputException(PhoneInputError.QrImageInvalid, where, $"the image is {info.Width}x{info.Height} pixels; the phone reads images up to {MaxSidePixels}x{MaxSidePixels}.");
        }

        using var bitmap = new SKBitmap(new SKImageInfo(info.Width, info.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        var result = codec.GetPixels(bitmap.Info, bitmap.GetPixels());
        if (result is not (SKCodecResult.Success or SKCodecResult.IncompleteInput))
        {
            throw new PhoneInputException(PhoneInputError.QrImageInvalid, where, $"the image does not decode ({result}).");
        }

        var text = Decode(ToRgbOnWhite(bitmap.GetPixelSpan(), info.Width, info.Height), info.Width, info.Height);
        return text ?? throw new PhoneInputException(PhoneInputError.NoQrInImage, where, $"no QR code was found in the {info.Width}x{info.Height} image.");
    }

    private static byte[] ToRgbOnWhite(ReadOnlySpan<byte> rgba, int width, int height)
    {
        var rgb = new byte[width * height * 3];
        for (int i = 0, o = 0; o < rgb.Length; i += 4, o += 3)
        {
            int alpha = rgba[i + 3];
            var white = 255 * (255 - alpha);
            rgb[o] = (byte)(((rgba[i] * alpha) + white) / 255);
            rgb[o + 1] = (byte)(((rgba[i + 1] * alpha) + white) / 255);
            rgb[o + 2] = (byte)(((rgba[i + 2] * alpha) + white) / 255);
        }

        return rgb;
    }

    private static string? Decode(byte[] rgb, int width, int height)
    {
        var reader = new BarcodeReaderGeneric
        {
            AutoRotate = true,
            Options = new DecodingOptions
            {
                PossibleFormats = [BarcodeFormat.QR_CODE],
                TryHarder = true,
            },
        };
        var source = new RGBLuminanceSource(rgb, width, height, RGBLuminanceSource.BitmapFormat.RGB24);
        return reader.Decode(source)?.Text;
    }
}
