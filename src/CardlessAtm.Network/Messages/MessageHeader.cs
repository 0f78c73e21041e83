using System.Globalization;
using CardlessAtm.Iso8583;

namespace CardlessAtm.Network;

/// <summary>
/// The fields every request of the network carries: STAN (11), ATM id (41), transmission date and time (7, UTC)
/// and, from a terminal, its local time and date (12, 13). A response echoes them.
/// </summary>
/// <param name="Stan">Field 11.</param>
/// <param name="Atm">Field 41.</param>
/// <param name="TransmissionDateTime">Field 7, MMDDhhmmss UTC, or null when the sender set none.</param>
/// <param name="LocalTime">Field 12, hhmmss, or null.</param>
/// <param name="LocalDate">Field 13, MMDD, or null.</param>
public sealed record MessageHeader(Stan Stan, AtmId Atm, string? TransmissionDateTime = null, string? LocalTime = null, string? LocalDate = null)
{
    /// <summary>A terminal's header stamped with the current instant (field 7 in UTC, 12 and 13 in local time).</summary>
    /// <param name="stan">The STAN.</param>
    /// <param name="atm">The ATM.</param>
    /// <param name="utcNow">The instant.</param>
    /// <param name="local">The terminal's local date and time.</param>
    /// <returns>The header.</returns>
    public static MessageHeader Stamped(Stan stan, AtmId atm, DateTimeOffset utcNow, DateTime local) => new(
        stan,
        atm,
        NetworkFields.TransmissionText(utcNow),
        local.ToString("HHmmss", CultureInfo.InvariantCulture),
        local.ToString("MMdd", CultureInfo.InvariantCulture));

    internal static MessageHeader Read(IsoMessage message, bool transmissionRequired)
    {
        var stan = FieldReader.Stan(message);
        var atm = FieldReader.Atm(message);
        var transmission = transmissionRequired || message.Has(NetworkFields.TransmissionDateTime) ? FieldReader.TransmissionDateTime(message) : null;
        return new MessageHeader(stan, atm, transmission, message.GetString(NetworkFields.LocalTime), message.GetString(NetworkFields.LocalDate));
    }

    internal void Write(IsoMessage message)
    {
        message.Set(NetworkFields.Stan, Stan.ToString());
        message.Set(NetworkFields.TerminalId, Atm.Value);
        SetIfPresent(message, NetworkFields.TransmissionDateTime, TransmissionDateTime);
        SetIfPresent(message, NetworkFields.LocalTime, LocalTime);
        SetIfPresent(message, NetworkFields.LocalDate, LocalDate);
    }

    internal static void SetIfPresent(IsoMessage message, int field, string? value)
    {
        if (value is not null)
        {
            message.Set(field, value);
        }
    }
}
