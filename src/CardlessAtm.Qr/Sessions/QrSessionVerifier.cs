using CardlessAtm.Qr.Payload;

namespace CardlessAtm.Qr.Sessions;

/// <summary>
/// Checks a scanned payload, in this order: syntax (<see cref="QrPayloadFormat.Parse"/>), the ATM it names,
/// its MAC and its expiry. It has no state, so a refused copy can never burn a good session.
/// </summary>
/// <remarks>
/// The host builds one per request (it is cheap) with field 41's ATM id and that ATM's key, and consumes the
/// nonce in its ledger transaction.
/// </remarks>
public sealed class QrSessionVerifier
{
    private readonly IQrPayloadMac _mac;
    private readonly TimeProvider _time;
    private readonly QrSessionOptions _options;

    /// <summary>Creates a verifier.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The options are out of range.</exception>
    public QrSessionVerifier(IQrPayloadMac mac, TimeProvider time, QrSessionOptions options)
    {
        ArgumentNullException.ThrowIfNull(mac);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _mac = mac;
        _time = time;
        _options = options;
    }

    /// <summary>
    /// Checks syntax, ATM id, MAC and expiry; records nothing. Single use is not this class's job: the
    /// terminal admits a request only for the session on its screen and remembers retired sessions
    /// (<c>RequestGate</c>), and the host's database refuses a second use of a nonce in the debit's transaction.
    /// </summary>
    public QrPayloadResult Verify(string scannedText, AtmId expectedAtmId)
    {
        ArgumentNullException.ThrowIfNull(scannedText);
        AtmId.ThrowIfDefault(expectedAtmId, nameof(expectedAtmId));
        var parsed = QrPayloadFormat.Parse(scannedText);
        if (!parsed.IsAccepted)
        {
            return parsed;
        }

        var payload = parsed.Payload;

        // The ATM comes before the MAC: the key that could verify another ATM's payload is not ours.
        if (payload.AtmId != expectedAtmId)
        {
            return Reject(QrPayloadRejectionReason.OtherAtm, "atm-id", $"The payload is for ATM {payload.AtmId}, not {expectedAtmId}.");
        }

        if (!_mac.Verify(payload.CanonicalForm(), payload.Mac))
        {
            return Reject(QrPayloadRejectionReason.BadMac, "mac", "The MAC does not match the payload: it was altered or not made with this ATM's key.");
        }

        var now = _time.GetUtcNow();
        if (now >= payload.ExpiresAt + _options.ClockSkew)
        {
            return Reject(QrPayloadRejectionReason.Expired, "expiry", $"The session expired at {payload.ExpiresAt:u}; it is now {now:u}.");
        }

        if (payload.ExpiresAt > now + _options.MaxLifetime + _options.ClockSkew)
        {
            return Reject(QrPayloadRejectionReason.FromTheFuture, "expiry",
                $"The session expires at {payload.ExpiresAt:u}, later than any session may last (now {now:u} + {_options.MaxLifetime} + skew {_options.ClockSkew}).");
        }

        return parsed;
    }

    private static QrPayloadResult Reject(QrPayloadRejectionReason reason, string field, string message) =>
        QrPayloadResult.Reject(new QrPayloadRejection(reason, field, null, message));
}
