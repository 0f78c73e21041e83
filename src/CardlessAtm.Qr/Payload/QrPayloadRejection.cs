namespace CardlessAtm.Qr.Payload;

/// <summary>Why a scanned QR session payload was refused. Each bad input has its own reason.</summary>
public enum QrPayloadRejectionReason
{
    /// <summary>The text does not start with the <c>CQ</c> marker: it is some other QR code (a URL, another scheme).</summary>
    NotASessionCode,

    /// <summary>The marker is right but the format version is one this code does not know.</summary>
    UnknownVersion,

    /// <summary>Shorter than the format's fixed length: the scan or the transport cut it short.</summary>
    Truncated,

    /// <summary>Longer than the format's fixed length: something was appended (spaces, a newline, more data).</summary>
    Padded,

    /// <summary>The right length, but a character is outside its field's alphabet or a separator is missing.</summary>
    Malformed,

    /// <summary>The currency is not an ISO 4217 code this stack knows.</summary>
    UnknownCurrency,

    /// <summary>The amount is zero.</summary>
    ZeroAmount,

    /// <summary>The payload names another ATM than the one checking it.</summary>
    OtherAtm,

    /// <summary>The MAC does not match: the payload was altered or not made with this ATM's key.</summary>
    BadMac,

    /// <summary>The payload's expiry has passed.</summary>
    Expired,

    /// <summary>The expiry lies further ahead than any session may last: a clock is wrong or the payload is forged.</summary>
    FromTheFuture,
}

/// <summary>
/// A typed refusal: the reason, the field concerned and the character index where that is known, and a
/// message for logs and operators. The message never echoes the MAC or key material.
/// </summary>
/// <param name="Reason">Why the payload was refused.</param>
/// <param name="Field">The field concerned (e.g. <c>amount</c>), or null when the refusal concerns the whole payload.</param>
/// <param name="Position">Zero-based character index in the scanned text, or null.</param>
/// <param name="Message">What was wrong and where, in words.</param>
public sealed record QrPayloadRejection(QrPayloadRejectionReason Reason, string? Field, int? Position, string Message)
{
    /// <inheritdoc />
    public override string ToString() => $"{Reason}: {Message}";
}
