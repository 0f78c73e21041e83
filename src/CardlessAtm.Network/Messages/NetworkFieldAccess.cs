using System.Globalization;
using CardlessAtm.Iso8583;

namespace CardlessAtm.Network;

/// <summary>
/// This network's fields by name on an <see cref="IsoMessage"/>, for code that works at field level: the proxy
/// rewriting the ATM leg's STAN, channel matching, tests that build a hostile message field by field. The roles
/// build and read whole messages through the typed messages (<see cref="PhoneWithdrawalRequest"/>,
/// <see cref="AuthorisationResponse"/>, …), which validate them; <see cref="IsoMessage"/> itself knows field
/// numbers only. The numbers are <see cref="NetworkFields"/>.
/// </summary>
public static class NetworkFieldAccess
{
    extension(IsoMessage message)
    {
        /// <summary>Field 3, processing code (n6), e.g. <see cref="ProcessingCodes.CashWithdrawal"/>.</summary>
        public string? ProcessingCode
        {
            get => message.GetString(NetworkFields.ProcessingCode);
            set => SetOrRemove(message, NetworkFields.ProcessingCode, value);
        }

        /// <summary>Field 4, transaction amount in minor units (n12).</summary>
        /// <exception cref="Iso8583FieldException">Set to a negative amount or one over 12 digits, or read from a field that is not a number.</exception>
        public long? AmountMinor
        {
            get => GetNumber(message, NetworkFields.Amount);
            set => SetNumber(message, NetworkFields.Amount, value, 999_999_999_999);
        }

        /// <summary>Field 11, system trace audit number (n6, 1–999999).</summary>
        /// <exception cref="Iso8583FieldException">Set outside 0–999999, or read from a field that is not a number.</exception>
        public int? Stan
        {
            get => (int?)GetNumber(message, NetworkFields.Stan);
            set => SetNumber(message, NetworkFields.Stan, value, 999_999);
        }

        /// <summary>Field 37, retrieval reference number (an12).</summary>
        public string? RetrievalReferenceNumber
        {
            get => message.GetString(NetworkFields.RetrievalReferenceNumber);
            set => SetOrRemove(message, NetworkFields.RetrievalReferenceNumber, value);
        }

        /// <summary>Field 38, authorisation code (an6).</summary>
        public string? AuthorizationCode
        {
            get => message.GetString(NetworkFields.AuthorizationCode);
            set => SetOrRemove(message, NetworkFields.AuthorizationCode, value);
        }

        /// <summary>Field 39, response code (an2); see <see cref="ResponseCodes"/>.</summary>
        public string? ResponseCode
        {
            get => message.GetString(NetworkFields.ResponseCode);
            set => SetOrRemove(message, NetworkFields.ResponseCode, value);
        }

        /// <summary>Field 41, terminal id = ATM id (ans8), e.g. <c>ATM00001</c>.</summary>
        public string? TerminalId
        {
            get => message.GetString(NetworkFields.TerminalId);
            set => SetOrRemove(message, NetworkFields.TerminalId, value);
        }

        /// <summary>Field 48, the QR session payload text exactly as scanned (ans..999).</summary>
        public string? SessionPayload
        {
            get => message.GetString(NetworkFields.SessionPayload);
            set => SetOrRemove(message, NetworkFields.SessionPayload, value);
        }

        /// <summary>Field 49, transaction currency, ISO 4217 numeric (n3), e.g. 978 for EUR.</summary>
        /// <exception cref="Iso8583FieldException">Set outside 0–999, or read from a field that is not a number.</exception>
        public int? CurrencyCode
        {
            get => (int?)GetNumber(message, NetworkFields.Currency);
            set => SetNumber(message, NetworkFields.Currency, value, 999);
        }

        /// <summary>Field 70, network management code (n3): see <see cref="NetworkManagementCodes"/>.</summary>
        public string? NetworkManagementCode
        {
            get => message.GetString(NetworkFields.NetworkManagementCode);
            set => SetOrRemove(message, NetworkFields.NetworkManagementCode, value);
        }

        /// <summary>Field 90, original data elements of a reversal.</summary>
        /// <exception cref="Iso8583FieldException">Read from a malformed field.</exception>
        public OriginalDataElements? OriginalData
        {
            get => message.GetString(NetworkFields.OriginalData) is { } text ? OriginalDataElements.Parse(text) : null;
            set => SetOrRemove(message, NetworkFields.OriginalData, value?.ToString());
        }

        /// <summary>Field 95, replacement amounts: the amount actually dispensed in minor units (first 12 digits; the rest zeros).</summary>
        /// <exception cref="Iso8583FieldException">Set to a negative amount or one over 12 digits, or read from a malformed field.</exception>
        public long? ReplacementAmountMinor
        {
            get
            {
                var text = message.GetString(NetworkFields.ReplacementAmounts);
                if (text is null)
                {
                    return null;
                }

                if (text.Length < 12 || !long.TryParse(text.AsSpan(0, 12), NumberStyles.None, CultureInfo.InvariantCulture, out var amount))
                {
                    throw new Iso8583FieldException(NetworkFields.ReplacementAmounts, FieldErrorReason.InvalidValue, "the actual amount (first 12 characters) is not 12 digits.");
                }

                return amount;
            }

            set
            {
                if (value is null)
                {
                    message.Remove(NetworkFields.ReplacementAmounts);
                    return;
                }

                if (value is < 0 or > 999_999_999_999)
                {
                    throw new Iso8583FieldException(NetworkFields.ReplacementAmounts, FieldErrorReason.InvalidValue, "the actual amount must be 0–999999999999 minor units.");
                }

                message.Set(NetworkFields.ReplacementAmounts, value.Value.ToString("D12", CultureInfo.InvariantCulture) + new string('0', 30));
            }
        }

        /// <summary>Field 120, key-change data (b..999); its format is the security module's.</summary>
        public byte[]? KeyChangeData
        {
            get => message.GetBytes(NetworkFields.KeyChangeData);
            set => SetBytesOrRemove(message, NetworkFields.KeyChangeData, value);
        }

        /// <summary>Field 127, the phone's protected data (b..999); opaque here, passed through untouched.</summary>
        public byte[]? ProtectedData
        {
            get => message.GetBytes(NetworkFields.ProtectedData);
            set => SetBytesOrRemove(message, NetworkFields.ProtectedData, value);
        }

        /// <summary>Field 12, local transaction time.</summary>
        /// <exception cref="Iso8583FieldException">The field is not a valid time.</exception>
        public TimeOnly? LocalTime
        {
            get
            {
                var text = message.GetString(NetworkFields.LocalTime);
                if (text is null)
                {
                    return null;
                }

                return TimeOnly.TryParseExact(text, "HHmmss", CultureInfo.InvariantCulture, DateTimeStyles.None, out var time)
                    ? time
                    : throw new Iso8583FieldException(NetworkFields.LocalTime, FieldErrorReason.InvalidValue, "not a valid hhmmss time.");
            }
        }

        /// <summary>Sets field 7 (MMDDhhmmss) from an instant, converted to UTC.</summary>
        /// <param name="instant">The transmission instant.</param>
        /// <returns>This message.</returns>
        public IsoMessage SetTransmissionDateTime(DateTimeOffset instant) =>
            message.Set(NetworkFields.TransmissionDateTime, NetworkFields.TransmissionText(instant));

        /// <summary>
        /// Field 7 as a UTC instant. The field has no year, so the year that puts it closest to
        /// <paramref name="reference"/> (normally "now") is chosen — a message sent on 31 Dec and read on 1 Jan is right.
        /// </summary>
        /// <param name="reference">The instant to resolve the year against.</param>
        /// <returns>The instant, or null when absent.</returns>
        /// <exception cref="Iso8583FieldException">The field is not a valid date and time.</exception>
        public DateTimeOffset? GetTransmissionDateTime(DateTimeOffset reference)
        {
            var text = message.GetString(NetworkFields.TransmissionDateTime);
            return text is null ? null : ResolveYear(NetworkFields.TransmissionDateTime, text, "MMddHHmmss", reference.UtcDateTime);
        }

        /// <summary>Sets fields 12 (hhmmss) and 13 (MMDD) from the terminal's local date and time.</summary>
        /// <param name="local">The local date and time.</param>
        /// <returns>This message.</returns>
        public IsoMessage SetLocalDateTime(DateTime local) =>
            message.Set(NetworkFields.LocalTime, local.ToString("HHmmss", CultureInfo.InvariantCulture))
                .Set(NetworkFields.LocalDate, local.ToString("MMdd", CultureInfo.InvariantCulture));

        /// <summary>Field 13 (MMDD) as a date, the year resolved as the one closest to <paramref name="reference"/>.</summary>
        /// <param name="reference">The local date to resolve the year against.</param>
        /// <returns>The date, or null when absent.</returns>
        /// <exception cref="Iso8583FieldException">The field is not a valid date.</exception>
        public DateOnly? GetLocalDate(DateTime reference)
        {
            var text = message.GetString(NetworkFields.LocalDate);
            return text is null ? null : DateOnly.FromDateTime(ResolveYear(NetworkFields.LocalDate, text + "120000", "MMddHHmmss", reference.Date.AddHours(12)).UtcDateTime);
        }

        /// <summary>
        /// A response to this request with this network's echoed fields (<see cref="NetworkFields.EchoedByResponses"/>)
        /// and the response code when one is given; see <see cref="NetworkFields.CreateResponse"/>.
        /// </summary>
        /// <param name="responseCode">Field 39, or null to leave it unset.</param>
        /// <returns>The response (no MAC).</returns>
        /// <exception cref="Iso8583FieldException">This message is not a request or advice.</exception>
        public IsoMessage CreateResponse(string? responseCode = null) => NetworkFields.CreateResponse(message, responseCode);
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

    private static long? GetNumber(IsoMessage message, int field)
    {
        if (!message.TryGetValue(field, out var value))
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

    private static void SetNumber(IsoMessage message, int field, long? value, long max)
    {
        if (value is null)
        {
            message.Remove(field);
            return;
        }

        if (value < 0 || value > max)
        {
            throw new Iso8583FieldException(field, FieldErrorReason.InvalidValue, string.Create(CultureInfo.InvariantCulture, $"must be 0–{max}."));
        }

        message.Set(field, value.Value.ToString(CultureInfo.InvariantCulture));
    }

    private static void SetOrRemove(IsoMessage message, int field, string? value)
    {
        if (value is null)
        {
            message.Remove(field);
        }
        else
        {
            message.Set(field, value);
        }
    }

    private static void SetBytesOrRemove(IsoMessage message, int field, byte[]? value)
    {
        if (value is null)
        {
            message.Remove(field);
        }
        else
        {
            message.SetBytes(field, value);
        }
    }
}
