namespace CardlessAtm.Security;

/// <summary>
/// The clear ISO 8583 field values the phone's MAC binds, exactly as they appear in the 0200:
/// field 3 (processing code, n6), 4 (amount in minor units, n12), 41 (ATM id, ans8),
/// 48 (the QR session payload as scanned, ans..999) and 49 (currency, n3). The ATM passes them
/// to the host unchanged; any change makes the host's MAC check fail.
/// </summary>
public sealed record PhoneRequestBinding
{
    /// <summary>Creates the binding after checking each value against the field contract.</summary>
    /// <exception cref="MalformedDataException">A value does not fit its field; the message names the field.</exception>
    public PhoneRequestBinding(string processingCode, string amount, string terminalId, string sessionPayload, string currency)
    {
        ProcessingCode = RequireDigits(processingCode, 6, "Field 3 (processing code)");
        Amount = RequireDigits(amount, 12, "Field 4 (amount)");
        TerminalId = RequireLength(terminalId, 8, 8, "Field 41 (terminal id)");
        SessionPayload = RequireLength(sessionPayload, 1, 999, "Field 48 (QR session payload)");
        Currency = RequireDigits(currency, 3, "Field 49 (currency)");
    }

    /// <summary>Field 3, n6.</summary>
    public string ProcessingCode { get; }

    /// <summary>Field 4, n12, minor units.</summary>
    public string Amount { get; }

    /// <summary>Field 41, ans8.</summary>
    public string TerminalId { get; }

    /// <summary>Field 48, the QR payload text.</summary>
    public string SessionPayload { get; }

    /// <summary>Field 49, n3.</summary>
    public string Currency { get; }

    internal IEnumerable<(byte Field, string Value)> Fields()
    {
        yield return (3, ProcessingCode);
        yield return (4, Amount);
        yield return (41, TerminalId);
        yield return (48, SessionPayload);
        yield return (49, Currency);
    }

    private static string RequireDigits(string value, int length, string field)
    {
        RequireLength(value, length, length, field);
        foreach (var c in value)
        {
            if (!char.IsAsciiDigit(c))
            {
                throw new MalformedDataException($"{field} must be {length} digits.");
            }
        }

        return value;
    }

    private static string RequireLength(string value, int min, int max, string field)
    {
        if (value is null || value.Length < min || value.Length > max)
        {
            throw new MalformedDataException(min == max
                ? $"{field} must be {min} characters, not {value?.Length ?? 0}."
                : $"{field} must be {min} to {max} characters, not {value?.Length ?? 0}.");
        }

        return value;
    }
}
