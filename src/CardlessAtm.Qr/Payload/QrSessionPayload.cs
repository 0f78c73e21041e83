namespace CardlessAtm.Qr.Payload;

/// <summary>
/// The fields of a QR session payload, without the MAC: what the ATM binds together under its key.
/// </summary>
/// <param name="AtmId">The ATM that shows the code (ISO 8583 field 41).</param>
/// <param name="Nonce">The session's random nonce.</param>
/// <param name="Amount">The amount to withdraw (ISO 8583 fields 4 and 49).</param>
/// <param name="ExpiresAt">When the session stops being valid, whole seconds, UTC.</param>
public sealed record QrSessionFields(AtmId AtmId, SessionNonce Nonce, Money Amount, DateTimeOffset ExpiresAt);

/// <summary>
/// A complete QR session payload: its fields, the ATM's MAC and the exact text that goes into the QR
/// code (and, as scanned, into ISO 8583 field 48).
/// </summary>
public sealed class QrSessionPayload
{
    private readonly byte[] _mac;

    internal QrSessionPayload(int formatVersion, QrSessionFields fields, ReadOnlySpan<byte> mac, string text)
    {
        FormatVersion = formatVersion;
        Fields = fields;
        _mac = mac.ToArray();
        Text = text;
    }

    /// <summary>The payload format version (1).</summary>
    public int FormatVersion { get; }

    /// <summary>The authenticated fields.</summary>
    public QrSessionFields Fields { get; }

    /// <summary>The ATM id.</summary>
    public AtmId AtmId => Fields.AtmId;

    /// <summary>The session nonce.</summary>
    public SessionNonce Nonce => Fields.Nonce;

    /// <summary>The amount.</summary>
    public Money Amount => Fields.Amount;

    /// <summary>The expiry (UTC, whole seconds).</summary>
    public DateTimeOffset ExpiresAt => Fields.ExpiresAt;

    /// <summary>The ATM's 8-byte MAC over the canonical form.</summary>
    public ReadOnlySpan<byte> Mac => _mac;

    /// <summary>The exact payload text (QR content, ISO 8583 field 48).</summary>
    public string Text { get; }

    /// <summary>The canonical form the MAC covers: the ASCII bytes of the text before the MAC's separator.</summary>
    public byte[] CanonicalForm() => QrPayloadFormat.CanonicalFormOf(Text);

    /// <summary>The payload text. Nothing in it is secret: it is shown on the ATM's screen.</summary>
    public override string ToString() => Text;
}
