using CardlessAtm.Qr.Payload;
using QRCoder;

namespace CardlessAtm.Qr.Symbols;

/// <summary>Turns text into a QR <see cref="ModuleMatrix"/> with QRCoder.</summary>
public static class QrSymbolEncoder
{
    /// <summary>The quiet zone QRCoder puts around the symbol, which the matrix leaves out.</summary>
    private const int QrCoderQuietZone = 4;

    /// <summary>
    /// Encodes a session payload at level M. Its characters are all in the alphanumeric set, so QRCoder uses
    /// alphanumeric mode and the symbol is version <see cref="QrPayloadFormat.QrVersion"/>.
    /// </summary>
    public static QrSymbol Encode(QrSessionPayload payload)
    {
        ArgumentNullException.ThrowIfNull(payload);
        return Encode(payload.Text, QrErrorCorrection.M, QrPayloadFormat.QrVersion);
    }

    /// <summary>Encodes <paramref name="text"/> at the smallest version that holds it.</summary>
    /// <exception cref="QrTextTooLongException">The text needs a version above <paramref name="maxVersion"/>.</exception>
    public static QrSymbol Encode(string text, QrErrorCorrection errorCorrection, int maxVersion = 40)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxVersion, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxVersion, 40);

        QRCodeData data;
        try
        {
            data = QRCodeGenerator.GenerateQrCode(text, ToQrCoder(errorCorrection));
        }
        catch (QRCoder.Exceptions.DataTooLongException)
        {
            throw new QrTextTooLongException(text.Length, errorCorrection, maxVersion);
        }

        using (data)
        {
            if (data.Version > maxVersion)
            {
                throw new QrTextTooLongException(text.Length, errorCorrection, maxVersion);
            }

            var size = 17 + (4 * data.Version);
            var offset = (data.ModuleMatrix.Count - size) / 2;
            if (offset != QrCoderQuietZone)
            {
                throw new InvalidOperationException($"QRCoder returned a {data.ModuleMatrix.Count}-module matrix for version {data.Version}; expected {size} plus a {QrCoderQuietZone}-module quiet zone.");
            }

            var modules = new bool[size * size];
            for (var y = 0; y < size; y++)
            {
                var row = data.ModuleMatrix[y + offset];
                for (var x = 0; x < size; x++)
                {
                    modules[(y * size) + x] = row[x + offset];
                }
            }

            return new QrSymbol(new ModuleMatrix(size, modules), data.Version, errorCorrection);
        }
    }

    internal static QRCodeGenerator.ECCLevel ToQrCoder(QrErrorCorrection level) => level switch
    {
        QrErrorCorrection.L => QRCodeGenerator.ECCLevel.L,
        QrErrorCorrection.M => QRCodeGenerator.ECCLevel.M,
        QrErrorCorrection.Q => QRCodeGenerator.ECCLevel.Q,
        QrErrorCorrection.H => QRCodeGenerator.ECCLevel.H,
        _ => throw new ArgumentOutOfRangeException(nameof(level), level, "Unknown error-correction level."),
    };
}

/// <summary>Text too long for the largest QR version allowed.</summary>
public sealed class QrTextTooLongException(int length, QrErrorCorrection level, int maxVersion)
    : ArgumentException($"{length} characters do not fit a QR code of version {maxVersion} or below at error-correction level {level}.")
{
    /// <summary>The text's length in characters.</summary>
    public int TextLength { get; } = length;

    /// <summary>The largest version allowed.</summary>
    public int MaxVersion { get; } = maxVersion;
}
