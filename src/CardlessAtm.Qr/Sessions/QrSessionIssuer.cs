using CardlessAtm.Qr.Payload;

namespace CardlessAtm.Qr.Sessions;

/// <summary>
/// The terminal's side of step B: opens a session for an amount — fresh CSPRNG nonce, expiry from the
/// clock, MAC under the ATM's key — and returns the payload to encode as a QR code.
/// </summary>
public sealed class QrSessionIssuer
{
    private readonly AtmId _atmId;
    private readonly IQrPayloadMac _mac;
    private readonly TimeProvider _time;
    private readonly QrSessionOptions _options;

    /// <summary>Creates an issuer for one ATM.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The options are out of range.</exception>
    public QrSessionIssuer(AtmId atmId, IQrPayloadMac mac, TimeProvider time, QrSessionOptions options)
    {
        ArgumentNullException.ThrowIfNull(mac);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(options);
        AtmId.ThrowIfDefault(atmId, nameof(atmId));
        options.Validate();
        _atmId = atmId;
        _mac = mac;
        _time = time;
        _options = options;
    }

    /// <summary>
    /// Opens a session for <paramref name="amount"/>. The expiry is now + <see cref="QrSessionOptions.Lifetime"/>,
    /// rounded down to the second.
    /// </summary>
    /// <exception cref="ArgumentException">The amount is not 1 to 999 999 999 999 minor units.</exception>
    public QrSessionPayload Issue(Money amount)
    {
        var expiry = _time.GetUtcNow() + _options.Lifetime;
        var wholeSeconds = DateTimeOffset.FromUnixTimeSeconds(expiry.ToUnixTimeSeconds());
        return QrPayloadFormat.Create(new QrSessionFields(_atmId, SessionNonce.CreateRandom(), amount, wholeSeconds), _mac);
    }
}
