using CardlessAtm.Qr.Payload;

namespace CardlessAtm.Phone.Scanning;

/// <summary>
/// A QR session code as the phone scanned it: the exact text (it goes unchanged into ISO 8583 field 48) and
/// its fields. The phone reads the syntax only; it cannot check the ATM's MAC (only the ATM holds that key),
/// so a forged code is caught by the ATM, not here.
/// </summary>
public sealed class ScannedSession
{
    private ScannedSession(QrSessionPayload payload, string source)
    {
        Payload = payload;
        Source = source;
    }

    /// <summary>The parsed payload.</summary>
    public QrSessionPayload Payload { get; }

    /// <summary>Where the code came from (a file name or "payload text"), for messages.</summary>
    public string Source { get; }

    /// <summary>The exact scanned text (ISO 8583 field 48).</summary>
    public string Text => Payload.Text;

    /// <summary>The ATM that shows the code (field 41).</summary>
    public AtmId AtmId => Payload.AtmId;

    /// <summary>The amount to withdraw (fields 4 and 49).</summary>
    public Money Amount => Payload.Amount;

    /// <summary>When the session stops being valid (UTC).</summary>
    public DateTimeOffset ExpiresAt => Payload.ExpiresAt;

    /// <summary>The session's nonce text, used as the session id in logs (not secret: it is on the ATM's screen).</summary>
    public string SessionId => Payload.Nonce.ToString();

    /// <summary>Reads a payload from its text exactly as scanned (no trimming: field 48 must be byte-for-byte what the ATM drew).</summary>
    /// <exception cref="PhoneInputException"><see cref="PhoneInputError.NotOurQr"/> or <see cref="PhoneInputError.InvalidQrPayload"/>, naming the field and position.</exception>
    public static ScannedSession FromText(string scannedText, string source = "QR payload text")
    {
        ArgumentNullException.ThrowIfNull(scannedText);
        var result = QrPayloadFormat.Parse(scannedText);
        if (!result.IsAccepted)
        {
            var rejection = result.Rejection;
            var kind = rejection.Reason == QrPayloadRejectionReason.NotASessionCode ? PhoneInputError.NotOurQr : PhoneInputError.InvalidQrPayload;
            var at = rejection.Field is null ? string.Empty : $" (field {rejection.Field}{(rejection.Position is { } p ? $", index {p}" : string.Empty)})";
            throw new PhoneInputException(kind, source, $"{Describe(rejection.Reason)}{at}: {rejection.Message}");
        }

        return new ScannedSession(result.Payload, source);
    }

    /// <summary>Finds the QR code in an image (PNG or JPEG bytes) and reads its payload.</summary>
    /// <exception cref="PhoneInputException">No image, no QR code in it, or a QR code that is not a valid session.</exception>
    public static ScannedSession FromImage(ReadOnlySpan<byte> image, string source = "QR image") =>
        FromText(QrImageReader.Read(image, source), source);

    /// <summary>Reads the QR code in the image file at <paramref name="path"/>.</summary>
    /// <exception cref="PhoneInputException">Missing file, no image, no QR code in it, or not a valid session.</exception>
    public static ScannedSession FromImageFile(string path) => FromText(QrImageReader.ReadFile(path), $"QR image {path}");

    /// <summary>
    /// What the command line's <c>--qr</c> takes: the path of an image file, or the payload text itself. A value that
    /// names an existing file, or ends in <c>.png</c>/<c>.jpg</c>/<c>.jpeg</c>, is read as an image; anything else as text.
    /// </summary>
    /// <exception cref="PhoneInputException">As <see cref="FromImageFile"/> or <see cref="FromText"/>.</exception>
    public static ScannedSession FromImageFileOrText(string value, string option = "--qr")
    {
        ArgumentNullException.ThrowIfNull(value);
        var looksLikeImage = value.EndsWith(".png", StringComparison.OrdinalIgnoreCase)
            || value.EndsWith(".jpg", StringComparison.OrdinalIgnoreCase)
            || value.EndsWith(".jpeg", StringComparison.OrdinalIgnoreCase);
        if (looksLikeImage || File.Exists(value))
        {
            return FromText(QrImageReader.ReadFile(value), $"{option} {value}");
        }

        return FromText(value, $"{option} (payload text)");
    }

    /// <summary>Checks the session has not expired at <paramref name="now"/>.</summary>
    /// <exception cref="PhoneInputException"><see cref="PhoneInputError.QrExpired"/>.</exception>
    public void EnsureNotExpired(DateTimeOffset now)
    {
        if (now >= ExpiresAt)
        {
            throw new PhoneInputException(
                PhoneInputError.QrExpired,
                Source,
                $"this session at {AtmId} expired at {ExpiresAt:yyyy-MM-dd HH:mm:ss} UTC ({(now - ExpiresAt).TotalSeconds:0} s ago); nothing was sent. Ask the ATM for a new code.");
        }
    }

    /// <summary>The ATM id, amount and expiry (nothing secret).</summary>
    public override string ToString() => $"Session {SessionId} at {AtmId} for {Amount}, expires {ExpiresAt:yyyy-MM-dd HH:mm:ss} UTC";

    private static string Describe(QrPayloadRejectionReason reason) => reason switch
    {
        QrPayloadRejectionReason.NotASessionCode => "this QR code is not a cardless ATM session code",
        QrPayloadRejectionReason.UnknownVersion => "this session code has a format version the phone does not know",
        QrPayloadRejectionReason.Truncated => "the session code is cut short",
        QrPayloadRejectionReason.Padded => "the session code has extra characters after it",
        QrPayloadRejectionReason.UnknownCurrency => "the session code names an unknown currency",
        QrPayloadRejectionReason.ZeroAmount => "the session code's amount is zero",
        _ => "the session code is malformed",
    };
}
