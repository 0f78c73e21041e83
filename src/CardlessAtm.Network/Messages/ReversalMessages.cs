using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using CardlessAtm.Iso8583;

namespace CardlessAtm.Network;

/// <summary>
/// The 0420 (0421 when repeated) an ATM sends to undo a withdrawal wholly or in part: which request it reverses (90),
/// why (39, a <see cref="ReversalReasons"/> code) and, for a partial dispense, how much did go out (95).
/// </summary>
/// <param name="Header">The ATM's header for the advice (its own STAN; 7 required).</param>
/// <param name="AmountMinor">Field 4, the original request's amount in minor units.</param>
/// <param name="OriginalData">Field 90, the original request's MTI, STAN and transmission time.</param>
public sealed record ReversalAdvice(MessageHeader Header, long AmountMinor, OriginalDataElements OriginalData)
{
    /// <summary>True for a repeat (0421) of an advice that may have been sent before.</summary>
    public bool IsRepeat { get; init; }

    /// <summary>Field 3, the original processing code.</summary>
    public string? ProcessingCode { get; init; } = ProcessingCodes.CashWithdrawal;

    /// <summary>Field 49, ISO 4217 numeric.</summary>
    public int? CurrencyCode { get; init; }

    /// <summary>Field 37, the original request's reference.</summary>
    public RetrievalReferenceNumber? RetrievalReference { get; init; }

    /// <summary>Field 39, the reversal reason (see <see cref="ReversalReasons"/>).</summary>
    public string? ReasonCode { get; init; }

    /// <summary>Field 95, the amount actually dispensed in minor units, for a partial reversal; null for a full one.</summary>
    public long? DispensedMinor { get; init; }

    /// <summary>The 0420 or 0421.</summary>
    /// <returns>A new message of <see cref="NetworkSpec.Messages"/>.</returns>
    /// <exception cref="Iso8583FieldException">A value does not fit its field.</exception>
    public IsoMessage ToIso()
    {
        var message = NetworkSpec.NewMessage(IsRepeat ? Mti.ReversalAdviceRepeat : Mti.ReversalAdvice);
        Header.Write(message);
        MessageHeader.SetIfPresent(message, NetworkFields.ProcessingCode, ProcessingCode);
        message.Set(NetworkFields.Amount, AmountMinor.ToString(CultureInfo.InvariantCulture));
        MessageHeader.SetIfPresent(message, NetworkFields.Currency, CurrencyCode?.ToString(CultureInfo.InvariantCulture));
        MessageHeader.SetIfPresent(message, NetworkFields.RetrievalReferenceNumber, RetrievalReference?.Value);
        MessageHeader.SetIfPresent(message, NetworkFields.ResponseCode, ReasonCode);
        message.Set(NetworkFields.OriginalData, OriginalData.ToString());
        if (DispensedMinor is { } dispensed)
        {
            if (dispensed is < 0 or > 999_999_999_999)
            {
                throw new Iso8583FieldException(NetworkFields.ReplacementAmounts, FieldErrorReason.InvalidValue, "the dispensed amount must be 0–999999999999 minor units.");
            }

            message.Set(NetworkFields.ReplacementAmounts, dispensed.ToString("D12", CultureInfo.InvariantCulture) + new string('0', 30));
        }

        return message;
    }

    /// <summary>Reads a 0420 or 0421.</summary>
    /// <param name="message">The message.</param>
    /// <returns>The advice.</returns>
    /// <exception cref="NetworkMessageException">Not a reversal advice, or 4, 7, 11, 41 or 90 is missing, or a field is malformed.</exception>
    public static ReversalAdvice FromIso(IsoMessage message)
    {
        FieldReader.ExpectMti(message, "a reversal advice", Mti.ReversalAdvice, Mti.ReversalAdviceRepeat);
        var header = MessageHeader.Read(message, transmissionRequired: true);
        var amount = FieldReader.Number(message, NetworkFields.Amount, "amount");
        var originalText = FieldReader.Text(message, NetworkFields.OriginalData, "original data elements");
        OriginalDataElements original;
        try
        {
            original = OriginalDataElements.Parse(originalText);
        }
        catch (Iso8583FieldException)
        {
            throw FieldReader.Malformed(NetworkFields.OriginalData, "original data elements", "must be 42 digits.");
        }

        return new ReversalAdvice(header, amount, original)
        {
            IsRepeat = message.Mti == Mti.ReversalAdviceRepeat,
            ProcessingCode = message.GetString(NetworkFields.ProcessingCode),
            CurrencyCode = (int?)FieldReader.OptionalNumber(message, NetworkFields.Currency, "currency"),
            RetrievalReference = FieldReader.OptionalRrn(message),
            ReasonCode = message.GetString(NetworkFields.ResponseCode),
            DispensedMinor = ReadDispensed(message),
        };
    }

    /// <summary>Reads a 0420 or 0421 without throwing.</summary>
    /// <param name="message">The message.</param>
    /// <param name="advice">The advice, or null.</param>
    /// <param name="error">What is wrong, or null.</param>
    /// <returns>True when the message is a valid advice.</returns>
    public static bool TryFromIso(IsoMessage message, [NotNullWhen(true)] out ReversalAdvice? advice, [NotNullWhen(false)] out NetworkMessageException? error) =>
        FieldReader.Try(message, FromIso, out advice, out error);

    private static long? ReadDispensed(IsoMessage message)
    {
        if (message.GetString(NetworkFields.ReplacementAmounts) is not { } text)
        {
            return null;
        }

        return text.Length >= 12 && long.TryParse(text.AsSpan(0, 12), NumberStyles.None, CultureInfo.InvariantCulture, out var amount)
            ? amount
            : throw FieldReader.Malformed(NetworkFields.ReplacementAmounts, "replacement amounts", "the dispensed amount (first 12 characters) is not 12 digits.");
    }
}

/// <summary>The host's 0430 to a reversal advice.</summary>
/// <param name="Stan">Field 11, echoed from the advice.</param>
/// <param name="ResponseCode">Field 39.</param>
public sealed record ReversalAdviceResponse(Stan Stan, string ResponseCode)
{
    /// <summary>Field 41, echoed, when present; a field 41 that is present but not an ATM id is refused by FromIso.</summary>
    public AtmId? Atm { get; init; }

    /// <summary>The 0430 as a response to <paramref name="advice"/>: its echoed fields and 39.</summary>
    /// <param name="advice">The advice it answers.</param>
    /// <returns>A new message.</returns>
    public IsoMessage ToIso(IsoMessage advice) => NetworkFields.CreateResponse(advice, ResponseCode);

    /// <summary>The 0430 on its own (the fields of this record only).</summary>
    /// <returns>A new message of <see cref="NetworkSpec.Messages"/>.</returns>
    public IsoMessage ToIso()
    {
        var message = NetworkSpec.NewMessage(Mti.ReversalAdviceResponse);
        message.Set(NetworkFields.Stan, Stan.ToString());
        message.Set(NetworkFields.ResponseCode, ResponseCode);
        MessageHeader.SetIfPresent(message, NetworkFields.TerminalId, Atm?.Value);
        return message;
    }

    /// <summary>Reads a 0430.</summary>
    /// <param name="message">The message.</param>
    /// <returns>The response.</returns>
    /// <exception cref="NetworkMessageException">Not a 0430, or 11 or 39 is missing or malformed.</exception>
    public static ReversalAdviceResponse FromIso(IsoMessage message)
    {
        FieldReader.ExpectMti(message, "a reversal advice response", Mti.ReversalAdviceResponse);
        return new ReversalAdviceResponse(FieldReader.Stan(message), FieldReader.Text(message, NetworkFields.ResponseCode, "response code"))
        {
            Atm = FieldReader.OptionalAtm(message),
        };
    }

    /// <summary>Reads a 0430 without throwing.</summary>
    /// <param name="message">The message.</param>
    /// <param name="response">The response, or null.</param>
    /// <param name="error">What is wrong, or null.</param>
    /// <returns>True when the message is a valid response.</returns>
    public static bool TryFromIso(IsoMessage message, [NotNullWhen(true)] out ReversalAdviceResponse? response, [NotNullWhen(false)] out NetworkMessageException? error) =>
        FieldReader.Try(message, FromIso, out response, out error);
}
