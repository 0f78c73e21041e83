using System.Globalization;

namespace CardlessAtm.Iso8583;

public sealed partial class IsoMessage
{
    /// <summary>The fields a response copies from its request (see <see cref="CreateResponse(string?)"/>).</summary>
    public static IReadOnlyList<int> EchoedFields { get; } = [3, 4, 7, 11, 12, 13, 37, 41, 49, 70, 90, 95];

    /// <summary>Field 3, processing code (n6), e.g. <c>010000</c> for a cash withdrawal.</summary>
    public string? ProcessingCode
    {
        get => GetString(3);
        set => SetOrRemove(3, value);
    }

    /// <summary>Field 4, transaction amount in minor units (n12).</summary>
    /// <exception cref="Iso8583FieldException">Set to a negative amount or one over 12 digits.</exception>
    public long? AmountMinor
    {
        get => GetNumber(4);
        set => SetNumber(4, value, 999_999_999_999);
    }

    /// <summary>Field 11, system trace audit number (n6, 1–999999).</summary>
    /// <exception cref="Iso8583FieldException">Set outside 0–999999.</exception>
    public int? Stan
    {
        get => (int?)GetNumber(11);
        set => SetNumber(11, value, 999_999);
    }

    /// <summary>Field 37, retrieval reference number (an12).</summary>
    public string? RetrievalReferenceNumber
    {
        get => GetString(37);
        set => SetOrRemove(37, value);
    }

    /// <summary>Field 38, authorisation code (an6).</summary>
    public string? AuthorizationCode
    {
        get => GetString(38);
        set => SetOrRemove(38, value);
    }

    /// <summary>Field 39, response code (an2); see <see cref="ResponseCodes"/>.</summary>
    public string? ResponseCode
    {
        get => GetString(39);
        set => SetOrRemove(39, value);
    }

    /// <summary>Field 41, terminal id = ATM id (ans8), e.g. <c>ATM00001</c>.</summary>
    public string? TerminalId
    {
        get => GetString(41);
        set => SetOrRemove(41, value);
    }

    /// <summary>Field 48, the QR session payload text exactly as scanned (ans..999).</summary>
    public string? SessionPayload
    {
        get => GetString(48);
        set => SetOrRemove(48, value);
    }

    /// <summary>Field 49, transaction currency, ISO 4217 numeric (n3), e.g. 978 for EUR.</summary>
    /// <exception cref="Iso8583FieldException">Set outside 0–999.</exception>
    public int? CurrencyCode
    {
        get => (int?)GetNumber(49);
        set => SetNumber(49, value, 999);
    }

    /// <summary>Field 70, network management code (n3): see <see cref="NetworkManagementCodes"/>.</summary>
    public string? NetworkManagementCode
    {
        get => GetString(70);
        set => SetOrRemove(70, value);
    }

    /// <summary>Field 90, original data elements of a reversal.</summary>
    public OriginalDataElements? OriginalData
    {
        get => GetString(90) is { } text ? OriginalDataElements.Parse(text) : null;
        set => SetOrRemove(90, value?.ToString());
    }

    /// <summary>Field 95, replacement amounts: the actually dispensed amount in minor units (first 12 digits; the rest zeros).</summary>
    /// <exception cref="Iso8583FieldException">Set to a negative amount or one over 12 digits, or read from a malformed field.</exception>
    public long? ReplacementAmountMinor
    {
        get
        {
            var text = GetString(95);
            if (text is null)
            {
                return null;
            }

            if (!long.TryParse(text.AsSpan(0, 12), NumberStyles.None, CultureInfo.InvariantCulture, out var amount))
            {
                throw new Iso8583FieldException(95, FieldErrorReason.InvalidValue, "the actual amount (first 12 characters) is not 12 digits.");
            }

            return amount;
        }

        set
        {
            if (value is null)
            {
                Remove(95);
                return;
            }

            if (value is < 0 or > 999_999_999_999)
            {
                throw new Iso8583FieldException(95, FieldErrorReason.InvalidValue, "the actual amount must be 0–999999999999 minor units.");
            }

            Set(95, value.Value.ToString("D12", CultureInfo.InvariantCulture) + new string('0', 30));
        }
    }

    /// <summary>Field 120, key-change data (b..999); format owned by the security module.</summary>
    public byte[]? KeyChangeData
    {
        get => GetBytes(120);
        set => SetBytesOrRemove(120, value);
    }

    /// <summary>Field 127, the phone's protected data (b..999); opaque here, passed through untouched.</summary>
    public byte[]? ProtectedData
    {
        get => GetBytes(127);
        set => SetBytesOrRemove(127, value);
    }

    /// <summary>Sets field 7 (MMDDhhmmss) from an instant, converted to UTC.</summary>
    /// <param name="instant">The transmission instant.</param>
    /// <returns>This message.</returns>
    public IsoMessage SetTransmissionDateTime(DateTimeOffset instant) =>
        Set(7, instant.UtcDateTime.ToString("MMddHHmmss", CultureInfo.InvariantCulture));

    /// <summary>
    /// Field 7 as a UTC instant. The field has no year, so the year that puts it closest to
    /// <paramref name="reference"/> (normally "now") is chosen — a message sent on 31 Dec and read on 1 Jan is right.
    /// </summary>
    /// <param name="reference">The instant to resolve the year against.</param>
    /// <returns>The instant, or null when absent.</returns>
    /// <exception cref="Iso8583FieldException">The field is not a valid date and time.</exception>
    public DateTimeOffset? GetTransmissionDateTime(DateTimeOffset reference)
    {
        var text = GetString(7);
        return text is null ? null : ResolveYear(7, text, "MMddHHmmss", reference.UtcDateTime);
    }

    /// <summary>Sets fields 12 (hhmmss) and 13 (MMDD) from the terminal's local date and time.</summary>
    /// <param name="local">The local date and time.</param>
    /// <returns>This message.</returns>
    public IsoMessage SetLocalDateTime(DateTime local) =>
        Set(12, local.ToString("HHmmss", CultureInfo.InvariantCulture)).Set(13, local.ToString("MMdd", CultureInfo.InvariantCulture));

    /// <summary>Field 12, local transaction time.</summary>
    /// <exception cref="Iso8583FieldException">The field is not a valid time.</exception>
    public TimeOnly? LocalTime
    {
        get
        {
            var text = GetString(12);
            if (text is null)
            {
                return null;
            }

            return TimeOnly.TryParseExact(text, "HHmmss", CultureInfo.InvariantCulture, DateTimeStyles.None, out var time)
                ? time
                : throw new Iso8583FieldException(12, FieldErrorReason.InvalidValue, "not a valid hhmmss time.");
        }
    }

    /// <summary>Field 13 (MMDD) as a date, the year resolved as the one closest to <paramref name="reference"/>.</summary>
    /// <param name="reference">The local date to resolve the year against.</param>
    /// <returns>The date, or null when absent.</returns>
    /// <exception cref="Iso8583FieldException">The field is not a valid date.</exception>
    public DateOnly? GetLocalDate(DateTime reference)
    {
        var text = GetString(13);
        return text is null ? null : DateOnly.FromDateTime(ResolveYear(13, text + "120000", "MMddHHmmss", reference.Date.AddHours(12)).UtcDateTime);
    }

    /// <summary>
    /// A response to this request: the response MTI (<see cref="Iso8583.Mti.ToResponse"/>), the <see cref="EchoedFields"/>
    /// that are present, and the response code when one is given. No MAC: apply one with <see cref="Mac.MessageMac"/>.
    /// </summary>
    /// <param name="responseCode">Field 39, or null to leave it unset.</param>
    /// <returns>The response.</returns>
    /// <exception cref="Iso8583FieldException">This message is not a request or advice.</exception>
    public IsoMessage CreateResponse(string? responseCode = null)
    {
        var response = CreateResponse(EchoedFields);
        if (responseCode is not null)
        {
            response.ResponseCode = responseCode;
        }

        return response;
    }

    /// <summary>
    /// A response to this request: the response MTI (<see cref="Iso8583.Mti.ToResponse"/>) and those of
    /// <paramref name="echoedFields"/> that are present. No MAC: apply one with <see cref="Mac.MessageMac"/>.
    /// </summary>
    /// <param name="echoedFields">The fields the network's responses copy from their request.</param>
    /// <returns>The response.</returns>
    /// <exception cref="Iso8583FieldException">This message is not a request or advice.</exception>
    public IsoMessage CreateResponse(IReadOnlyList<int> echoedFields)
    {
        ArgumentNullException.ThrowIfNull(echoedFields);
        var response = new IsoMessage(Spec, Iso8583.Mti.ToResponse(Mti));
        foreach (var field in echoedFields)
        {
            var index = IndexOf(field);
            if (index >= 0 && Spec.Find(field) is not null)
            {
                response.SetBytes(field, Value(index));
            }
        }

        return response;
    }

    private static DateTimeOffset ResolveYear(int field, string text, string format, DateTime reference)
    {
        DateTimeOffset? best = null;
        for (var year = reference.Year - 1; year <= reference.Year + 1; year++)
        {
            if (DateTime.TryParseExact(year.ToString("D4", CultureInfo.InvariantCulture) + text, "yyyy" + format, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var candidate)
                && (best is null || Math.Abs((candidate - reference).Ticks) < Math.Abs((best.Value.UtcDateTime - reference).Ticks)))
            {
                best = new DateTimeOffset(candidate, TimeSpan.Zero);
            }
        }

        return best ?? throw new Iso8583FieldException(field, FieldErrorReason.InvalidValue, $"not a valid {format} date/time.");
    }

    private long? GetNumber(int field)
    {
        if (!TryGetValue(field, out var value))
        {
            return null;
        }

        long number = 0;
        foreach (var digit in value)
        {
            if (digit is < (byte)'0' or > (byte)'9')
            {
                throw new Iso8583FieldException(field, FieldErrorReason.InvalidValue, "not a number.");
            }

            number = (number * 10) + (digit - '0');
        }

        return number;
    }

    private void SetNumber(int field, long? value, long max)
    {
        if (value is null)
        {
            Remove(field);
            return;
        }

        if (value < 0 || value > max)
        {
            throw new Iso8583FieldException(field, FieldErrorReason.InvalidValue, string.Create(CultureInfo.InvariantCulture, $"must be 0–{max}."));
        }

        Span<char> digits = stackalloc char[20];
        value.Value.TryFormat(digits, out var written, default, CultureInfo.InvariantCulture);
        Set(field, new string(digits[..written]));
    }

    private void SetOrRemove(int field, string? value)
    {
        if (value is null)
        {
            Remove(field);
        }
        else
        {
            Set(field, value);
        }
    }

    private void SetBytesOrRemove(int field, byte[]? value)
    {
        if (value is null)
        {
            Remove(field);
        }
        else
        {
            SetBytes(field, value);
        }
    }
}
