using System.Globalization;
using System.Text;


namespace CardlessAtm.Qr.Payload;

/// <summary>
/// The QR session payload format, version 1 (docs/protocol/qr-payload.md): 71 characters, every one in the
/// QR alphanumeric set, fixed-width fields separated by <c>.</c>:
/// <code>CQ1.ATM00001.NONCE16BASE32CHARS.AMOUNT12DIGIT.CUR.EXPIRYUNIXS.MAC13BASE32CH</code>
/// so that it encodes at QR version 4, error-correction level M.
/// </summary>
public static class QrPayloadFormat
{
    /// <summary>The two characters every session payload starts with.</summary>
    public const string Marker = "CQ";

    /// <summary>The format version this code writes and reads.</summary>
    public const int CurrentVersion = 1;

    /// <summary>The separator between fields.</summary>
    public const char Separator = '.';

    /// <summary>Bytes of the ATM's MAC in the payload.</summary>
    public const int MacLength = 8;

    /// <summary>Digits of the amount in minor units (as ISO 8583 field 4, n12).</summary>
    public const int AmountDigits = 12;

    /// <summary>The largest amount the payload can carry, in minor units.</summary>
    public const long MaxAmountMinorUnits = 999_999_999_999;

    /// <summary>Characters of a version 1 payload.</summary>
    public const int Length = 71;

    /// <summary>The QR version a version 1 payload needs at error-correction level M (alphanumeric mode).</summary>
    public const int QrVersion = 4;

    private const int ExpiryDigits = 10;
    private const int CurrencyDigits = 3;
    private static readonly int MacTextLength = Base32.EncodedLength(MacLength);

    // Field start indexes in a version 1 payload; each field is followed by a separator, except the MAC.
    private const int AtmIdStart = 4;
    private const int NonceStart = AtmIdStart + AtmId.Length + 1;
    private const int AmountStart = NonceStart + SessionNonce.TextLength + 1;
    private const int CurrencyStart = AmountStart + AmountDigits + 1;
    private const int ExpiryStart = CurrencyStart + CurrencyDigits + 1;
    private const int MacSeparator = ExpiryStart + ExpiryDigits;
    private const int MacStart = MacSeparator + 1;

    private static readonly int[] SeparatorPositions = [3, NonceStart - 1, AmountStart - 1, CurrencyStart - 1, ExpiryStart - 1, MacSeparator];

    /// <summary>Builds the payload text for the fields and MACs it with the ATM's key.</summary>
    /// <exception cref="ArgumentException">A field cannot be written: default ATM id, amount not 1…999 999 999 999, expiry not in whole seconds or outside 1970…2286.</exception>
    public static QrSessionPayload Create(QrSessionFields fields, IQrPayloadMac mac)
    {
        ArgumentNullException.ThrowIfNull(fields);
        ArgumentNullException.ThrowIfNull(mac);
        AtmId.ThrowIfDefault(fields.AtmId, nameof(fields));
        if (fields.Amount.Currency is null)
        {
            throw new ArgumentException("The amount has no currency.", nameof(fields));
        }

        if (fields.Amount.MinorUnits is <= 0 or > MaxAmountMinorUnits)
        {
            throw new ArgumentException(
                $"The amount must be 1 to {MaxAmountMinorUnits} minor units, got {fields.Amount.MinorUnits}.", nameof(fields));
        }

        var unixSeconds = fields.ExpiresAt.ToUnixTimeSeconds();
        if (fields.ExpiresAt.UtcTicks % TimeSpan.TicksPerSecond != 0 || unixSeconds is < 0 or > 9_999_999_999)
        {
            throw new ArgumentException(
                $"The expiry must be whole seconds between 1970 and 2286 UTC, got {fields.ExpiresAt:O}.", nameof(fields));
        }

        var builder = new StringBuilder(Length);
        builder.Append(Marker).Append(CurrentVersion.ToString(CultureInfo.InvariantCulture))
            .Append(Separator).Append(fields.AtmId.Value)
            .Append(Separator).Append(fields.Nonce.ToString())
            .Append(Separator).Append(fields.Amount.MinorUnits.ToString("D12", CultureInfo.InvariantCulture))
            .Append(Separator).Append(fields.Amount.Currency.NumericCode.ToString("D3", CultureInfo.InvariantCulture))
            .Append(Separator).Append(unixSeconds.ToString("D10", CultureInfo.InvariantCulture));
        var canonical = Encoding.ASCII.GetBytes(builder.ToString());

        Span<byte> tag = stackalloc byte[MacLength];
        mac.Compute(canonical, tag);
        Span<char> tagText = stackalloc char[MacTextLength];
        Base32.Encode(tag, tagText);
        builder.Append(Separator).Append(tagText);

        return new QrSessionPayload(CurrentVersion, fields, tag, builder.ToString());
    }

    /// <summary>
    /// Reads a scanned payload's syntax only: marker, version, exact length, each field's alphabet,
    /// currency and amount. It does not check the MAC, the ATM or the time — that is
    /// <see cref="Sessions.QrSessionVerifier"/>'s job; a phone uses this to show the ATM id and amount.
    /// </summary>
    public static QrPayloadResult Parse(string scannedText)
    {
        ArgumentNullException.ThrowIfNull(scannedText);
        var text = scannedText.AsSpan();

        if (text.Length < Marker.Length + 1)
        {
            return Marker.AsSpan().StartsWith(text)
                ? Reject(QrPayloadRejectionReason.Truncated, null, text.Length, $"The payload is {text.Length} characters; a version {CurrentVersion} payload is {Length}.")
                : Reject(QrPayloadRejectionReason.NotASessionCode, "marker", 0, $"The text does not start with '{Marker}': it is not a cardless ATM session code.");
        }

        if (!text.StartsWith(Marker, StringComparison.Ordinal))
        {
            return Reject(QrPayloadRejectionReason.NotASessionCode, "marker", 0, $"The text does not start with '{Marker}': it is not a cardless ATM session code.");
        }

        if (text[2] != (char)('0' + CurrentVersion))
        {
            return Reject(QrPayloadRejectionReason.UnknownVersion, "version", 2,
                $"Payload format version '{Printable(text[2])}' is unknown; this code reads version {CurrentVersion}.");
        }

        if (text.Length < Length)
        {
            return Reject(QrPayloadRejectionReason.Truncated, null, text.Length, $"The payload is {text.Length} characters; a version {CurrentVersion} payload is {Length}.");
        }

        if (text.Length > Length)
        {
            return Reject(QrPayloadRejectionReason.Padded, null, Length, $"The payload is {text.Length} characters; a version {CurrentVersion} payload is {Length}, so {text.Length - Length} extra characters follow it.");
        }

        foreach (var position in SeparatorPositions)
        {
            if (text[position] != Separator)
            {
                return Malformed("separator", position, $"'{Separator}' expected at index {position}, found '{Printable(text[position])}'.");
            }
        }

        var atmIdText = text.Slice(AtmIdStart, AtmId.Length);
        for (var i = 0; i < atmIdText.Length; i++)
        {
            if (!AtmId.IsAllowed(atmIdText[i]))
            {
                return Malformed("atm-id", AtmIdStart + i, $"The ATM id holds only A-Z and 0-9; found '{Printable(atmIdText[i])}' at index {AtmIdStart + i}.");
            }
        }

        if (!SessionNonce.TryParse(text.Slice(NonceStart, SessionNonce.TextLength), out var nonce, out var nonceBad))
        {
            return Malformed("nonce", NonceStart + nonceBad, $"The nonce is {SessionNonce.TextLength} base32 characters (A-Z, 2-7); index {NonceStart + nonceBad} is not valid there.");
        }

        if (!TryDigits(text, AmountStart, AmountDigits, out var amountMinor, out var bad))
        {
            return Malformed("amount", bad, $"The amount is {AmountDigits} digits; index {bad} is '{Printable(text[bad])}'.");
        }

        if (!TryDigits(text, CurrencyStart, CurrencyDigits, out var currencyNumeric, out bad))
        {
            return Malformed("currency", bad, $"The currency is {CurrencyDigits} digits (ISO 4217 numeric); index {bad} is '{Printable(text[bad])}'.");
        }

        if (!TryDigits(text, ExpiryStart, ExpiryDigits, out var expiryUnix, out bad))
        {
            return Malformed("expiry", bad, $"The expiry is {ExpiryDigits} digits (Unix seconds, UTC); index {bad} is '{Printable(text[bad])}'.");
        }

        Span<byte> tag = stackalloc byte[MacLength];
        var macBad = Base32.TryDecode(text[MacStart..], tag);
        if (macBad >= 0)
        {
            return Malformed("mac", MacStart + macBad, $"The MAC is {MacTextLength} canonical base32 characters (A-Z, 2-7, last one ending in a zero bit); index {MacStart + macBad} is not valid there.");
        }

        Currency currency;
        try
        {
            currency = Currency.FromNumericCode((int)currencyNumeric);
        }
        catch (UnknownCurrencyException)
        {
            return Reject(QrPayloadRejectionReason.UnknownCurrency, "currency", CurrencyStart,
                $"Currency {currencyNumeric:D3} is not an ISO 4217 numeric code this stack knows.");
        }

        if (amountMinor == 0)
        {
            return Reject(QrPayloadRejectionReason.ZeroAmount, "amount", AmountStart, "The amount is zero.");
        }

        var fields = new QrSessionFields(
            AtmId.Parse(atmIdText.ToString()),
            nonce,
            new Money(amountMinor, currency),
            DateTimeOffset.FromUnixTimeSeconds(expiryUnix));
        return QrPayloadResult.Accept(new QrSessionPayload(CurrentVersion, fields, tag, scannedText));
    }

    /// <summary>The bytes the MAC covers: the ASCII text before the separator that precedes the MAC.</summary>
    internal static byte[] CanonicalFormOf(string text) => Encoding.ASCII.GetBytes(text, 0, MacSeparator);

    private static bool TryDigits(ReadOnlySpan<char> text, int start, int count, out long value, out int badIndex)
    {
        value = 0;
        for (var i = start; i < start + count; i++)
        {
            if (!char.IsAsciiDigit(text[i]))
            {
                badIndex = i;
                return false;
            }

            value = (value * 10) + (text[i] - '0');
        }

        badIndex = -1;
        return true;
    }

    private static string Printable(char c) => char.IsAsciiLetterOrDigit(c) || c is ' ' or '$' or '%' or '*' or '+' or '-' or '.' or '/' or ':'
        ? c.ToString()
        : $"U+{(int)c:X4}";

    private static QrPayloadResult Malformed(string field, int position, string message) =>
        Reject(QrPayloadRejectionReason.Malformed, field, position, message);

    private static QrPayloadResult Reject(QrPayloadRejectionReason reason, string? field, int? position, string message) =>
        QrPayloadResult.Reject(new QrPayloadRejection(reason, field, position, message));
}
