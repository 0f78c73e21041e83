using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using CardlessAtm.Iso8583;

namespace CardlessAtm.Network;

/// <summary>Reads the network's fields for the typed messages and turns each problem into a <see cref="NetworkMessageException"/>.</summary>
internal static class FieldReader
{
    public static void ExpectMti(IsoMessage message, string what, params ReadOnlySpan<string> mtis)
    {
        ArgumentNullException.ThrowIfNull(message);
        foreach (var mti in mtis)
        {
            if (message.Mti == mti)
            {
                return;
            }
        }

        throw new NetworkMessageException(0, "message type", NetworkFieldProblem.WrongMessageType, $"{message.Mti} is not {what} ({string.Join(" or ", mtis.ToArray())}).");
    }

    public static bool Try<T>(IsoMessage message, Func<IsoMessage, T> read, [NotNullWhen(true)] out T? value, [NotNullWhen(false)] out NetworkMessageException? error)
        where T : class
    {
        try
        {
            value = read(message);
            error = null;
            return true;
        }
        catch (NetworkMessageException e)
        {
            value = null;
            error = e;
            return false;
        }
    }

    public static string Text(IsoMessage message, int field, string name) =>
        message.GetString(field) ?? throw Missing(field, name);

    public static string? OptionalText(IsoMessage message, int field) => message.GetString(field);

    public static string Digits(IsoMessage message, int field, string name, int length)
    {
        var text = Text(message, field, name);
        return text.Length == length && !text.AsSpan().ContainsAnyExceptInRange('0', '9')
            ? text
            : throw Malformed(field, name, string.Create(CultureInfo.InvariantCulture, $"must be {length} digits."));
    }

    public static long Number(IsoMessage message, int field, string name) =>
        ParseNumber(Text(message, field, name), field, name);

    public static long? OptionalNumber(IsoMessage message, int field, string name) =>
        message.GetString(field) is { } text ? ParseNumber(text, field, name) : null;

    public static Stan Stan(IsoMessage message) =>
        CardlessAtm.Stan.TryParse(Text(message, NetworkFields.Stan, "STAN"), out var stan)
            ? stan
            : throw Malformed(NetworkFields.Stan, "STAN", "must be six digits, 000001–999999.");

    public static AtmId Atm(IsoMessage message) =>
        AtmId.TryParse(Text(message, NetworkFields.TerminalId, "terminal id"), out var atm)
            ? atm
            : throw Malformed(NetworkFields.TerminalId, "terminal id", $"must be an ATM id of {AtmId.Length} characters A-Z or 0-9.");

    /// <summary>Field 41 of a response: null when absent (not echoed); present, it must be an ATM id.</summary>
    public static AtmId? OptionalAtm(IsoMessage message) =>
        message.Has(NetworkFields.TerminalId) ? Atm(message) : null;

    public static RetrievalReferenceNumber Rrn(IsoMessage message) =>
        OptionalRrn(message) ?? throw Missing(NetworkFields.RetrievalReferenceNumber, "retrieval reference number");

    public static RetrievalReferenceNumber? OptionalRrn(IsoMessage message)
    {
        if (message.GetString(NetworkFields.RetrievalReferenceNumber) is not { } text)
        {
            return null;
        }

        return RetrievalReferenceNumber.TryParse(text, out var rrn)
            ? rrn
            : throw Malformed(NetworkFields.RetrievalReferenceNumber, "retrieval reference number", "must be 12 letters or digits.");
    }

    // Ten digits that are a real MMDDhhmmss (read in a leap year, so that 29 February is one), as the host's sign-on check reads field 7.
    public static string TransmissionDateTime(IsoMessage message)
    {
        var text = Digits(message, NetworkFields.TransmissionDateTime, "transmission date and time", 10);
        return DateTime.TryParseExact("2000" + text, "yyyyMMddHHmmss", CultureInfo.InvariantCulture, DateTimeStyles.None, out _)
            ? text
            : throw Malformed(NetworkFields.TransmissionDateTime, "transmission date and time", "must be a date and time, MMDDhhmmss.");
    }

    public static byte[] Bytes(IsoMessage message, int field, string name) =>
        message.GetBytes(field) is { Length: > 0 } bytes ? bytes : throw Missing(field, name);

    public static NetworkMessageException Missing(int field, string name) =>
        new(field, name, NetworkFieldProblem.Missing, "the field is required.");

    public static NetworkMessageException Malformed(int field, string name, string detail) =>
        new(field, name, NetworkFieldProblem.Malformed, detail);

    private static long ParseNumber(string text, int field, string name) =>
        text.Length is > 0 and <= 18 && !text.AsSpan().ContainsAnyExceptInRange('0', '9')
            ? long.Parse(text, NumberStyles.None, CultureInfo.InvariantCulture)
            : throw Malformed(field, name, "must be digits.");
}
