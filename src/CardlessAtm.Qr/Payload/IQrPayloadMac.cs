namespace CardlessAtm.Qr.Payload;

/// <summary>
/// The ATM's MAC over a QR session payload. The key stays behind this port (the security module
/// adapts the ATM's MAC key to it); this project only hands over the bytes of the payload's
/// canonical form (see <see cref="QrPayloadFormat"/>) and stores the tag.
/// </summary>
public interface IQrPayloadMac
{
    /// <summary>
    /// Computes the tag over <paramref name="canonicalForm"/> into <paramref name="tag"/>, which is exactly
    /// <see cref="QrPayloadFormat.MacLength"/> (8) bytes long.
    /// </summary>
    void Compute(ReadOnlySpan<byte> canonicalForm, Span<byte> tag);

    /// <summary>
    /// Whether <paramref name="tag"/> (8 bytes) is the tag of <paramref name="canonicalForm"/>.
    /// Implementations compare in constant time.
    /// </summary>
    bool Verify(ReadOnlySpan<byte> canonicalForm, ReadOnlySpan<byte> tag);
}
