using System.Diagnostics.CodeAnalysis;

namespace CardlessAtm.Qr.Payload;

/// <summary>The outcome of reading or verifying a scanned payload: the payload, or a typed refusal.</summary>
public sealed class QrPayloadResult
{
    private QrPayloadResult(QrSessionPayload? payload, QrPayloadRejection? rejection)
    {
        Payload = payload;
        Rejection = rejection;
    }

    /// <summary>Whether the payload passed every check that was made.</summary>
    [MemberNotNullWhen(true, nameof(Payload))]
    [MemberNotNullWhen(false, nameof(Rejection))]
    public bool IsAccepted => Payload is not null;

    /// <summary>The payload, when accepted.</summary>
    public QrSessionPayload? Payload { get; }

    /// <summary>Why it was refused, when refused.</summary>
    public QrPayloadRejection? Rejection { get; }

    internal static QrPayloadResult Accept(QrSessionPayload payload) => new(payload, null);

    internal static QrPayloadResult Reject(QrPayloadRejection rejection) => new(null, rejection);

    /// <inheritdoc />
    public override string ToString() => IsAccepted ? $"Accepted {Payload}" : $"Refused {Rejection}";
}
