using QRCoder;

namespace CardlessAtm.Qr.Rendering;

/// <summary>
/// Writes a QR code as a PNG with QRCoder's <see cref="PngByteQRCode"/> (no System.Drawing): black on white,
/// 4-module quiet zone, for the phone simulator, the docs and bug reports.
/// </summary>
public static class PngQrRenderer
{
    private static readonly byte[] Black = [0, 0, 0];
    private static readonly byte[] White = [255, 255, 255];

    /// <summary>Renders <paramref name="modules"/> at <paramref name="pixelsPerModule"/> (3…64) pixels per module.</summary>
    /// <exception cref="ArgumentException">The matrix is not a QR code's size (21 to 177 modules, 17 + 4 × version).</exception>
    public static byte[] Render(ModuleMatrix modules, int pixelsPerModule = 8)
    {
        ArgumentNullException.ThrowIfNull(modules);
        ArgumentOutOfRangeException.ThrowIfLessThan(pixelsPerModule, QrFrameRenderer.MinimumPixelsPerModule);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(pixelsPerModule, 64);
        var version = (modules.Size - 17) / 4;
        if (modules.Size < 21 || modules.Size > 177 || (modules.Size - 17) % 4 != 0)
        {
            throw new ArgumentException($"A QR code is 17 + 4 × version modules wide (21 to 177); this matrix is {modules.Size}.", nameof(modules));
        }

        // QRCoder renders its own QRCodeData; rebuild one from our matrix so that PNG, frames and console
        // all draw the same modules.
        using var data = new QRCodeData(version, addPadding: true);
        var quiet = (data.ModuleMatrix.Count - modules.Size) / 2;
        for (var y = 0; y < modules.Size; y++)
        {
            var row = data.ModuleMatrix[y + quiet];
            for (var x = 0; x < modules.Size; x++)
            {
                row[x + quiet] = modules.IsDark(x, y);
            }
        }

        using var png = new PngByteQRCode(data);
        return png.GetGraphic(pixelsPerModule, Black, White, drawQuietZones: true);
    }
}
