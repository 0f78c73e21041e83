using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using CardlessAtm.Iso8583;
using CardlessAtm.Security;

namespace CardlessAtm.Network;

/// <summary>
/// The 0200 a phone sends through the proxy to the ATM: what it wants to withdraw, the QR session it scanned and
/// its protected data (account id and PIN, sealed by the phone; opaque here).
/// </summary>
/// <param name="Header">STAN (the phone's), ATM id and transmission time (required).</param>
/// <param name="AmountMinor">Field 4, in minor units.</param>
/// <param name="CurrencyCode">Field 49, ISO 4217 numeric.</param>
/// <param name="SessionPayload">Field 48, the QR session text exactly as scanned.</param>
public sealed record PhoneWithdrawalRequest(MessageHeader Header, long AmountMinor, int CurrencyCode, string SessionPayload)
{
    /// <summary>Field 3; <see cref="ProcessingCodes.CashWithdrawal"/> unless a peer sent another.</summary>
    public string ProcessingCode { get; init; } = ProcessingCodes.CashWithdrawal;

    /// <summary>Field 127, the phone's protected data; empty until the phone has sealed it.</summary>
    public ReadOnlyMemory<byte> ProtectedData { get; init; }

    /// <summary>
    /// The clear values the phone's MAC binds (fields 3, 4, 41, 48, 49 exactly as they go on the wire). The phone
    /// seals its data against it; the host opens it against the same binding.
    /// </summary>
    /// <exception cref="MalformedDataException">A value does not fit its field.</exception>
    public PhoneRequestBinding Binding => new(
        ProcessingCode,
        AmountMinor.ToString("D12", CultureInfo.InvariantCulture),
        Header.Atm.Value,
        SessionPayload,
        CurrencyCode.ToString("D3", CultureInfo.InvariantCulture));

    /// <summary>The 0200.</summary>
    /// <returns>A new message of <see cref="NetworkSpec.Messages"/>.</returns>
    /// <exception cref="Iso8583FieldException">A value does not fit its field.</exception>
    public IsoMessage ToIso()
    {
        var message = NetworkSpec.NewMessage(Mti.FinancialRequest);
        Write(message);
        return message;
    }

    /// <summary>Reads a phone's 0200.</summary>
    /// <param name="message">The message.</param>
    /// <returns>The request.</returns>
    /// <exception cref="NetworkMessageException">Not a 0200, or a required field (3, 4, 7, 11, 41, 48, 49) is missing or malformed.</exception>
    public static PhoneWithdrawalRequest FromIso(IsoMessage message)
    {
        FieldReader.ExpectMti(message, "a withdrawal request", Mti.FinancialRequest);
        return Read(message);
    }

    /// <summary>Reads a phone's 0200 without throwing.</summary>
    /// <param name="message">The message.</param>
    /// <param name="request">The request, or null.</param>
    /// <param name="error">What is wrong, or null.</param>
    /// <returns>True when the message is a valid request.</returns>
    public static bool TryFromIso(IsoMessage message, [NotNullWhen(true)] out PhoneWithdrawalRequest? request, [NotNullWhen(false)] out NetworkMessageException? error) =>
        FieldReader.Try(message, FromIso, out request, out error);

    internal static PhoneWithdrawalRequest Read(IsoMessage message) => new(
        MessageHeader.Read(message, transmissionRequired: true),
        FieldReader.Number(message, NetworkFields.Amount, "amount"),
        (int)FieldReader.Number(message, NetworkFields.Currency, "currency"),
        FieldReader.Text(message, NetworkFields.SessionPayload, "QR session payload"))
    {
        ProcessingCode = FieldReader.Digits(message, NetworkFields.ProcessingCode, "processing code", 6),
        ProtectedData = message.GetBytes(NetworkFields.ProtectedData) ?? ReadOnlyMemory<byte>.Empty,
    };

    internal void Write(IsoMessage message)
    {
        message.Set(NetworkFields.ProcessingCode, ProcessingCode);
        message.Set(NetworkFields.Amount, AmountMinor.ToString(CultureInfo.InvariantCulture));
        Header.Write(message);
        message.Set(NetworkFields.SessionPayload, SessionPayload);
        message.Set(NetworkFields.Currency, CurrencyCode.ToString(CultureInfo.InvariantCulture));
        if (!ProtectedData.IsEmpty)
        {
            message.SetBytes(NetworkFields.ProtectedData, ProtectedData.Span);
        }
    }
}

/// <summary>
/// The 0200 an ATM sends to the host for a phone's withdrawal: the phone's request under the ATM's own header
/// (its STAN, time stamps) with the retrieval reference number (37) the ATM assigned.
/// </summary>
/// <param name="Withdrawal">The withdrawal; its <see cref="PhoneWithdrawalRequest.Header"/> is the ATM's.</param>
/// <param name="RetrievalReference">Field 37.</param>
public sealed record AtmWithdrawalRequest(PhoneWithdrawalRequest Withdrawal, RetrievalReferenceNumber RetrievalReference)
{
    /// <summary>The header (the ATM's).</summary>
    public MessageHeader Header => Withdrawal.Header;

    /// <summary>The binding the phone sealed its data against (see <see cref="PhoneWithdrawalRequest.Binding"/>).</summary>
    public PhoneRequestBinding Binding => Withdrawal.Binding;

    /// <summary>The ATM's request for a phone's: the phone's fields 3, 4, 48, 49 and 127 under the ATM's header.</summary>
    /// <param name="phone">The phone's request.</param>
    /// <param name="header">The ATM's header.</param>
    /// <param name="retrievalReference">The reference the ATM assigned.</param>
    /// <returns>The request.</returns>
    public static AtmWithdrawalRequest Forwarding(PhoneWithdrawalRequest phone, MessageHeader header, RetrievalReferenceNumber retrievalReference)
    {
        ArgumentNullException.ThrowIfNull(phone);
        return new(phone with { Header = header }, retrievalReference);
    }

    /// <summary>The 0200.</summary>
    /// <returns>A new message of <see cref="NetworkSpec.Messages"/>.</returns>
    /// <exception cref="Iso8583FieldException">A value does not fit its field.</exception>
    public IsoMessage ToIso()
    {
        var message = Withdrawal.ToIso();
        message.Set(NetworkFields.RetrievalReferenceNumber, RetrievalReference.Value);
        return message;
    }

    /// <summary>Reads an ATM's 0200.</summary>
    /// <param name="message">The message.</param>
    /// <returns>The request.</returns>
    /// <exception cref="NetworkMessageException">Not a 0200, or a required field (3, 4, 7, 11, 37, 41, 48, 49, 127) is missing or malformed.</exception>
    public static AtmWithdrawalRequest FromIso(IsoMessage message)
    {
        var withdrawal = PhoneWithdrawalRequest.FromIso(message);
        var reference = FieldReader.Rrn(message);
        FieldReader.Bytes(message, NetworkFields.ProtectedData, "protected data");
        return new AtmWithdrawalRequest(withdrawal, reference);
    }

    /// <summary>Reads an ATM's 0200 without throwing.</summary>
    /// <param name="message">The message.</param>
    /// <param name="request">The request, or null.</param>
    /// <param name="error">What is wrong, or null.</param>
    /// <returns>True when the message is a valid request.</returns>
    public static bool TryFromIso(IsoMessage message, [NotNullWhen(true)] out AtmWithdrawalRequest? request, [NotNullWhen(false)] out NetworkMessageException? error) =>
        FieldReader.Try(message, FromIso, out request, out error);
}

/// <summary>The host's 0210 to a withdrawal: the response code, the authorisation code when approved, and the echoed request fields.</summary>
/// <param name="Stan">Field 11, echoed.</param>
/// <param name="ResponseCode">Field 39; see <see cref="ResponseCodes"/>.</param>
public sealed record AuthorisationResponse(Stan Stan, string ResponseCode)
{
    /// <summary>Field 41, echoed, when present; a field 41 that is present but not an ATM id is refused by FromIso.</summary>
    public AtmId? Atm { get; init; }

    /// <summary>Field 38, the authorisation code (an6), when the host approved.</summary>
    public string? AuthorizationCode { get; init; }

    /// <summary>Field 37, echoed, when present.</summary>
    public RetrievalReferenceNumber? RetrievalReference { get; init; }

    /// <summary>Field 4, echoed, when present.</summary>
    public long? AmountMinor { get; init; }

    /// <summary>Field 49, echoed, when present.</summary>
    public int? CurrencyCode { get; init; }

    /// <summary>True when the host approved (39 = 00).</summary>
    public bool IsApproved => ResponseCode == ResponseCodes.Approved;

    /// <summary>The 0210 as a response to <paramref name="request"/>: its echoed fields, 39 and 38.</summary>
    /// <param name="request">The request it answers.</param>
    /// <returns>A new message.</returns>
    /// <exception cref="Iso8583FieldException">A value does not fit its field.</exception>
    public IsoMessage ToIso(IsoMessage request)
    {
        var message = NetworkFields.CreateResponse(request, ResponseCode);
        MessageHeader.SetIfPresent(message, NetworkFields.AuthorizationCode, AuthorizationCode);
        return message;
    }

    /// <summary>The 0210 on its own (the fields of this record only).</summary>
    /// <returns>A new message of <see cref="NetworkSpec.Messages"/>.</returns>
    /// <exception cref="Iso8583FieldException">A value does not fit its field.</exception>
    public IsoMessage ToIso()
    {
        var message = NetworkSpec.NewMessage(Mti.FinancialResponse);
        message.Set(NetworkFields.Stan, Stan.ToString());
        message.Set(NetworkFields.ResponseCode, ResponseCode);
        MessageHeader.SetIfPresent(message, NetworkFields.TerminalId, Atm?.Value);
        MessageHeader.SetIfPresent(message, NetworkFields.AuthorizationCode, AuthorizationCode);
        MessageHeader.SetIfPresent(message, NetworkFields.RetrievalReferenceNumber, RetrievalReference?.Value);
        MessageHeader.SetIfPresent(message, NetworkFields.Amount, AmountMinor?.ToString(CultureInfo.InvariantCulture));
        MessageHeader.SetIfPresent(message, NetworkFields.Currency, CurrencyCode?.ToString(CultureInfo.InvariantCulture));
        return message;
    }

    /// <summary>Reads a 0210.</summary>
    /// <param name="message">The message.</param>
    /// <returns>The response.</returns>
    /// <exception cref="NetworkMessageException">Not a 0210, or 11 or 39 is missing, or a field is malformed.</exception>
    public static AuthorisationResponse FromIso(IsoMessage message)
    {
        FieldReader.ExpectMti(message, "an authorisation response", Mti.FinancialResponse);
        return new AuthorisationResponse(FieldReader.Stan(message), FieldReader.Text(message, NetworkFields.ResponseCode, "response code"))
        {
            Atm = FieldReader.OptionalAtm(message),
            AuthorizationCode = message.GetString(NetworkFields.AuthorizationCode),
            RetrievalReference = FieldReader.OptionalRrn(message),
            AmountMinor = FieldReader.OptionalNumber(message, NetworkFields.Amount, "amount"),
            CurrencyCode = (int?)FieldReader.OptionalNumber(message, NetworkFields.Currency, "currency"),
        };
    }

    /// <summary>Reads a 0210 without throwing.</summary>
    /// <param name="message">The message.</param>
    /// <param name="response">The response, or null.</param>
    /// <param name="error">What is wrong, or null.</param>
    /// <returns>True when the message is a valid response.</returns>
    public static bool TryFromIso(IsoMessage message, [NotNullWhen(true)] out AuthorisationResponse? response, [NotNullWhen(false)] out NetworkMessageException? error) =>
        FieldReader.Try(message, FromIso, out response, out error);
}
