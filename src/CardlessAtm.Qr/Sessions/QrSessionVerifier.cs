using CardlessAtm.Qr.Payload;

namespace CardlessAtm.Qr.Sessions;

/// <summary>
/// Checks a scanned payload completely, in this order: syntax (<see cref="QrPayloadFormat.Parse"/>), the ATM
/// it names, its MAC, its expiry, and finally that it was not used before (which records it as used).
/// Any refusal leaves the replay guard untouched, so a bad copy cannot burn a good session.
/// </summary>
/// <remarks>
/// The terminal builds one with its own ATM id, its MAC key and an <see cref="InMemorySessionNonceRegistry"/>.
/// The host builds one per request (it is cheap) with field 41's ATM id, that ATM's key and its database
/// registry.
/// </remarks>
public sealed class QrSessionVerifier
{
    private readonly IQrPayloadMac _mac;
    private readonly ISessionNonceRegistry _registry;
    private readonly TimeProvider _time;
    private readonly QrSessionOptions _options;

    /// <summary>Creates a verifier.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The options are out of range.</exception>
    public QrSessionVerifier(IQrPayloadMac mac, ISessionNonceRegistry registry, TimeProvider time, QrSessionOptions options)
    {
        ArgumentNullException.ThrowIfNull(mac);
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _mac = mac;
        _registry = registry;
        _time = time;
        _options = options;
    }

    /// <summary>
    /// Verifies <paramref name="scannedText"/> for the ATM <paramref name="expectedAtmId"/> and, when every
    /// check passes, consumes the session so that it is refused as <see cref="QrPayloadRejectionReason.Replayed"/>
    /// from then on.
    /// </summary>
    public async ValueTask<QrPayloadResult> VerifyAndConsumeAsync(string scannedText, AtmId expectedAtmId, CancellationToken cancellationToken)
    {
        var checkedPayload = Verify(scannedText, expectedAtmId);
        if (!checkedPayload.IsAccepted)
        {
            return checkedPayload;
        }

        var payload = checkedPayload.Payload;
        var fresh = await _registry.TryConsumeAsync(payload.AtmId, payload.Nonce, payload.ExpiresAt + _options.ClockSkew, cancellationToken);
        return fresh
            ? checkedPayload
            : QrPayloadResult.Reject(new QrPayloadRejection(QrPayloadRejectionReason.Replayed, "nonce", null,
                $"Session {payload.Nonce} of ATM {payload.AtmId} was already used."));
    }

    /// <summary>
    /// Every check except re-use, without recording anything (e.g. to show a refusal early).
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
